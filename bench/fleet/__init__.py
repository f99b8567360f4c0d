"""`bench fleet`: one `bench run` per node of a Ray cluster, results streamed back to the driver.

Ray schedules; each node probes its own hardware, makes its own fit check and measures in its own
processes, exactly as `bench run` does locally. What a node is sent is a RunRequest
(scenarios/request.py), never a command line: the `bench run` options are parsed once, on the
driver (bench/commands/fleet.py). Modules:
- cluster: connecting to Ray, listing the nodes and choosing the targets (--nodes);
- jobs: the run options a fleet run passes on (a RunRequest per backend), and the keys that make a rerun resume;
- remote: what runs on a node (probe, plan a RunRequest, run one RunRequest per model x quant, Ctrl-C);
- driver: the schedule, progress, faults and the result files;
- the commands, `bench fleet run` and `bench fleet status`, are bench/commands/fleet.py.
Ray is the `fleet` extra: nothing here imports it at module level.
"""
