"""What `bench fleet run` costs over the same `bench run` done locally, and the memory Ray takes.

    python benchmarks/fleet_overhead.py --rounds 4 --out benchmarks/results/fleet-overhead-zen5.json

A one-node Ray cluster at 127.0.0.1 in a network namespace of its own (tests/fleet/netns_cluster.py),
on this machine. Each round runs the same tiny-model `bench run` once locally and once through
`bench fleet run --force` (driver connect, the node's probe and plan, the run, results written
back), alternating which goes first: this machine's speed drifts from minute to minute. Reported:
wall seconds per run for both sides, their difference and ratio per round, the node-side run time
the driver printed ("done in X s"), and the RSS of every Ray process with the cluster idle.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fleet.netns_cluster import NetnsCluster, unavailable_reason  # noqa: E402

RUN = ["--model", "tiny", "--scenario", "tg64", "--repetitions", "3", "--min-duration", "0", "--idle-seconds", "0"]


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def ray_memory(cluster: NetnsCluster) -> dict:
    """RSS of the cluster's processes (everything in its namespace), by process name."""
    by_name: dict[str, int] = {}
    for p in cluster.processes():
        try:
            name = p.name()
            if name in ("nsenter", "sleep"):
                continue
            cmd = " ".join(p.cmdline())
            if "bench.commands.main" in cmd:
                continue              # the benchmark itself, not Ray
            if "fleet run" in cmd:
                name = "bench fleet run (the driver)"
            elif "default_worker.py" in cmd and name.startswith("python"):     # (the raylet's own flags name it too)
                name = "ray worker (the node runner)"
            elif name.startswith("python"):
                # Ray's Python daemons: name them by their script or module
                m = re.search(r"(\w+)\.py\b|-m (\S+)", cmd)
                name = "python " + ((m.group(1) or m.group(2)) if m else "?")
            by_name[name] = by_name.get(name, 0) + p.memory_info().rss
        except Exception:
            continue
    return {"rss_bytes_by_process": by_name, "rss_bytes_total": sum(by_name.values())}


class PeakSampler:
    """The highest total RSS of Ray's processes (the driver's and the node's, not bench's own) while a fleet run goes."""

    def __init__(self, cluster: NetnsCluster) -> None:
        self.cluster, self.peak, self._stop = cluster, 0, threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            self.peak = max(self.peak, ray_memory(self.cluster)["rss_bytes_total"])

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    why = unavailable_reason()
    if why:
        print(f"cannot run: {why}", file=sys.stderr)
        return 2
    bench = str(Path(sys.executable).with_name("bench"))
    cluster = NetnsCluster()
    rounds = []
    try:
        t0 = time.monotonic()
        cluster.add_node("node-a", "node_a", head=True)
        cluster.wait_for_nodes(1)
        up_s = time.monotonic() - t0
        time.sleep(5)
        idle = ray_memory(cluster)
        with tempfile.TemporaryDirectory() as tmp:
            local_cmd = [bench, "run", *RUN, "--results-dir", f"{tmp}/local"]
            fleet_cmd = [bench, "fleet", "run", "--address", cluster.address, "--force",
                         "--results-dir", f"{tmp}/fleet", *RUN]
            cluster.run(local_cmd, capture_output=True, check=True)       # warm: the synthetic build, page cache
            for i in range(args.rounds):
                order = ["local", "fleet"] if i % 2 == 0 else ["fleet", "local"]
                r: dict[str, Any] = {}
                for side in order:
                    t = time.monotonic()
                    if side == "fleet":
                        sampler = PeakSampler(cluster)
                    out = cluster.run(local_cmd if side == "local" else fleet_cmd, capture_output=True, text=True)
                    r[side] = time.monotonic() - t
                    if side == "fleet":
                        r["ray_peak_rss_bytes"] = sampler.stop()
                    if out.returncode != 0:
                        print(out.stderr[-2000:], file=sys.stderr)
                        return 1
                    if side == "fleet":
                        m = re.search(r"done in ([\d.]+) s", out.stderr)
                        r["fleet_node_run_s"] = float(m.group(1)) if m else None
                r["overhead_s"] = r["fleet"] - r["local"]
                r["ratio"] = r["fleet"] / r["local"]
                rounds.append(r)
                print(f"round {i + 1} ({' then '.join(order)}): local {r['local']:.1f} s, fleet {r['fleet']:.1f} s "
                      f"(node-side run {r['fleet_node_run_s']} s), +{r['overhead_s']:.1f} s, x{r['ratio']:.2f}",
                      flush=True)
    finally:
        cluster.stop()
    med = {k: statistics.median(r[k] for r in rounds) for k in ("local", "fleet", "overhead_s", "ratio")}
    report = {"machine": {"cpu": cpu_model(), "cores": len(__import__("os").sched_getaffinity(0))},
              "run": RUN, "cluster_up_s": round(up_s, 1), "ray_idle_memory": idle, "rounds": rounds,
              "median": med}
    print(f"median: local {med['local']:.1f} s, fleet {med['fleet']:.1f} s, overhead +{med['overhead_s']:.1f} s "
          f"per run (x{med['ratio']:.2f}); Ray idle RSS {idle['rss_bytes_total'] / 2**20:.0f} MiB "
          f"(one node, idle), {statistics.median(r['ray_peak_rss_bytes'] for r in rounds) / 2**20:.0f} MiB "
          f"at its peak during a fleet run (driver and node runner included)")
    for name, rss in sorted(idle["rss_bytes_by_process"].items(), key=lambda kv: -kv[1]):
        print(f"  {name}: {rss / 2**20:.0f} MiB")
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
