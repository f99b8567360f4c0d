"""The readers: cost model, API price table, terminal tables, `bench check`'s physics reader, the
HTML run report and the static dashboard site. Below the command lines, above scenarios and hardware."""
