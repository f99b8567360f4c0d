"""rightsize's top floor: the `bench` command line (one module per command in bench/commands/),
one run, the sweep and its process per run, the fleet, quality and evals. The floors below it are
in docs/architecture.md: the clock and stats are in `engines`, result files in `contract`."""
