"""The readers of result files: the run's terminal tables, the cost model and API price table, the
HTML report, the static dashboard site and `bench check`'s physics reader. They run nothing."""
