"""rightsize: the `bench` command line, run orchestration, clock, result schema, stats and storage."""
