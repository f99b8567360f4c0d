"""`bench fleet`: one `bench run` per node of a Ray cluster, results streamed back to the driver.

Ray schedules; each node probes its own hardware, makes its own fit check and measures in its own
processes, exactly as `bench run` does locally. Modules:
- cluster: connecting to Ray, listing the nodes and choosing the targets (--nodes);
- jobs: the `bench run` options a fleet run passes on, and the keys that make a rerun resume;
- remote: what runs on a node (probe, plan, one `bench run` per model x quant, Ctrl-C);
- driver: the schedule, progress, faults and the result files;
- cli: `bench fleet run` and `bench fleet status`.
Ray is the `fleet` extra: nothing here imports it at module level.
"""
