"""rightsize's top floor: every `bench` command line (bench/commands/), one run's orchestration
(run.py, measurement.py, isolation.py, journal.py), sweeps, the fleet, quality and evals.
It may import every package below it; none imports it (docs/architecture.md)."""
