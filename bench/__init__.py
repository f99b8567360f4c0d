"""rightsize: the `bench` command line, run orchestration, clock, stats and storage (the result
document's contract is the `contract` package)."""
