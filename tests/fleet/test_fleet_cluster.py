"""bench fleet on a real Ray cluster: two nodes at 127.0.0.1 in a network namespace of their own
(netns_cluster.py), the tiny synthetic model through llama.cpp on each.

tox -e fleet runs these with Ray required (RIGHTSIZE_REQUIRE_ENGINES=ray): there a missing Ray or
namespace fails instead of skipping."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fleet.netns_cluster import NetnsCluster, unavailable_reason
from tests.waiting import measured, wait_for

pytestmark = pytest.mark.engine   # a real Ray cluster running real bench runs

BENCH = str(Path(sys.executable).with_name("bench"))
# short runs for the results and resume, and runs long enough to be stopped in the middle
QUICK = ["--model", "tiny", "--scenario", "tg16", "--repetitions", "1", "--min-duration", "0", "--idle-seconds", "0"]
LONG = ["--model", "tiny", "--scenario", "tg128", "--repetitions", "30", "--min-duration", "0", "--idle-seconds", "0"]


@pytest.fixture(scope="module")
def cluster():
    why = unavailable_reason()
    if why:
        if "ray" in os.environ.get("RIGHTSIZE_REQUIRE_ENGINES", "").split(","):
            pytest.fail(f"the fleet tests are required here, but {why}")
        pytest.skip(f"no test Ray cluster: {why} (tox -e fleet runs these)")
    c = NetnsCluster()
    try:
        c.add_node("node-a", "node_a", head=True)
        c.wait_for_nodes(1)
        c.add_node("node-b", "node_b")
        c.wait_for_nodes(2)
        yield c
    finally:
        c.stop()


def fleet(cluster, *args, timeout=300):
    return cluster.run([BENCH, "fleet", *args[:1], "--address", cluster.address, *args[1:]],
                       capture_output=True, text=True, timeout=timeout)


def our_lines(stderr: str) -> list[str]:
    """stderr less Ray's own C++ log lines ('[2026-12-02 15:45:31,393 W 16393 16393] network_util.cc...':
    this namespace has no route out, which Ray warns about once per process)."""
    return [ln for ln in stderr.splitlines() if ln.strip() and not re.match(r"\[\d{4}-\d\d-\d\d [\d:,]+ [A-Z] \d+ \d+\]", ln)]


def results(d: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(d.glob("*.json"))]


def test_status_lists_each_node_with_its_hardware_and_the_schedule(cluster):
    out = fleet(cluster, "status", "--json", *QUICK)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    nodes = {n["name"]: n for n in got["nodes"]}
    assert set(nodes) == {"node-a", "node-b"} and all(n["alive"] for n in nodes.values())
    assert nodes["node-a"]["resources"]["node_a"] == 1 and "node_a" not in nodes["node-b"]["resources"]
    for n in nodes.values():
        assert n["hardware"]["cpu"]["threads"] >= 1 and n["hardware"]["fingerprint"]
        assert n["hardware"]["gpus"] == [] and set(n["hardware"]["gpu_drivers"]) == {"nvidia", "amd"}
    assert sorted((s["node"], s["model"], s["plan"]) for s in got["schedule"]) == [
        ("node-a", "tiny", "run"), ("node-b", "tiny", "run")]
    text = fleet(cluster, "status", *QUICK)
    assert text.returncode == 0 and "node-a" in text.stdout and "schedule" in text.stdout
    assert got["nodes"][0]["hardware"]["cpu"]["model"].split()[0] in text.stdout


def test_dry_run_shows_the_schedule_and_measures_nothing(cluster, tmp_path):
    out = fleet(cluster, "run", "--dry-run", "--results-dir", str(tmp_path / "r"), "--nodes", "node_b", *QUICK)
    assert out.returncode == 0, out.stderr
    assert "node-b" in out.stdout and "node-a" not in out.stdout
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").iterdir())


def test_a_bad_target_or_option_is_one_line(cluster, tmp_path):
    out = fleet(cluster, "run", "--nodes", "no-such-node", "--results-dir", str(tmp_path), *QUICK)
    assert out.returncode == 2 and len(our_lines(out.stderr)) == 1
    assert "matches no alive node" in out.stderr and "Traceback" not in out.stderr
    out = fleet(cluster, "run", "--results-dir", str(tmp_path), "--label", "x", *QUICK)
    assert out.returncode == 2 and "--label is not a `bench fleet run` option" in out.stderr


def test_a_result_from_each_node_then_a_rerun_resumes(cluster, tmp_path):
    out = fleet(cluster, "run", "--results-dir", str(tmp_path), *QUICK)
    assert out.returncode == 0, out.stderr
    docs = results(tmp_path)
    assert sorted(d["fleet"]["name"] for d in docs) == ["node-a", "node-b"]
    assert len({d["fleet"]["node_id"] for d in docs}) == 2
    for d in docs:
        assert d["status"] == "completed" and d["label"] == d["fleet"]["name"]
        assert d["fleet"]["labels"]["rightsize-name"] == d["fleet"]["name"] and d["fleet"]["ip"] == "127.0.0.1"
        assert d["scenarios"][0]["name"] == "tg16" and d["hardware"]["fingerprint"]
        # measured at the node's own priority, not at Ray's worker niceness (15)
        assert d["environment"]["niceness"] == os.getpriority(os.PRIO_PROCESS, 0)
    for node in ("node-a", "node-b"):
        assert f"[{node}] queued" in out.stderr and f"[{node}] running (1/1): tiny" in out.stderr
        assert f"[{node}] done in" in out.stderr
    assert len(list(tmp_path.glob("*.html"))) == 2            # each result's report, as a local run writes

    # the fleet's results directory is a multi-machine dashboard as it is
    site = subprocess.run([BENCH, "dashboard", str(tmp_path), "-o", str(tmp_path / "site")], capture_output=True,
                          text=True, timeout=120)
    assert site.returncode == 0 and "2 result(s) from 2 machine(s)" in site.stderr + site.stdout, site.stderr

    again = fleet(cluster, "run", "--results-dir", str(tmp_path), *QUICK)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("already measured") >= 2 and "running" not in again.stderr
    assert len(results(tmp_path)) == 2

    forced = fleet(cluster, "run", "--results-dir", str(tmp_path), "--force", "--nodes", "node_b", *QUICK)
    assert forced.returncode == 0, forced.stderr
    assert sorted(d["fleet"]["name"] for d in results(tmp_path)) == ["node-a", "node-b", "node-b"]

    # other options are another job: nothing of the above is resumed for them
    other = fleet(cluster, "run", "--dry-run", "--results-dir", str(tmp_path), *QUICK, "--scenario", "tg8")
    assert "already measured" not in other.stdout


def _start_long_run(cluster, results_dir: Path) -> subprocess.Popen:
    proc = cluster.popen([BENCH, "fleet", "run", "--address", cluster.address, "--results-dir", str(results_dir),
                          *LONG], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc


def _wait_for_lines(proc, needles: list[str], timeout: float = 120) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        if all(any(n in s for s in seen) for n in needles):
            return seen
    raise AssertionError(f"never saw {needles}; saw {seen}")


def _bench_runs(cluster) -> list[str]:
    out = []
    for p in cluster.processes():
        try:
            cmd = p.cmdline()
        except Exception:
            continue
        if "bench.commands.job" in cmd:      # a node runs each RunRequest as a run's child
            out.append(" ".join(cmd))
    return out


def _remote_runs_measuring(cluster) -> int:
    """How many remote runs have journaled a measured pass, in the scratch results directory each
    is given (bench/fleet/remote.py: its job file is there)."""
    dirs = set()
    for p in cluster.processes():
        try:
            cmd = p.cmdline()
        except Exception:
            continue
        if "bench.commands.job" in cmd:
            dirs.add(str(Path(cmd[-1]).parent))
    return sum(1 for d in dirs if measured(Path(d)) >= 1)


@pytest.mark.parametrize("signum, code, name", [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM"),
                                                (signal.SIGHUP, 129, "SIGHUP")])
def test_a_stop_signal_stops_the_remote_runs_and_keeps_what_they_measured(cluster, tmp_path, signum, code, name):
    """Ctrl-C, a `kill` (SIGTERM) or a closed terminal (SIGHUP) alike: the shell's exit code for it."""
    proc = _start_long_run(cluster, tmp_path)
    _wait_for_lines(proc, ["[node-a] running", "[node-b] running"])
    wait_for(lambda: _remote_runs_measuring(cluster) == 2, 120, "both remote runs measuring", proc)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert f"stopping 2 run(s): node-a, node-b ({name} again to kill them now)" in err
    docs = results(tmp_path)
    assert sorted(d["fleet"]["name"] for d in docs) == ["node-a", "node-b"]
    assert {d["status"] for d in docs} == {"interrupted"}, (err, [d["errors"] for d in docs])
    wait_for(lambda: _bench_runs(cluster) == [], 30, "no remote bench run left")


def test_a_node_killed_mid_run_leaves_a_failed_result_and_the_other_lands(cluster, tmp_path):
    proc = _start_long_run(cluster, tmp_path)
    _wait_for_lines(proc, ["[node-a] running", "[node-b] running"])
    # killed mid-measurement: its run has journaled a pass (and node-a's too)
    wait_for(lambda: _remote_runs_measuring(cluster) == 2, 120, "both remote runs measuring", proc)
    try:
        cluster.kill_node("node-b")
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 1, err
        by_node = {d["fleet"]["name"]: d for d in results(tmp_path)}
        assert by_node["node-a"]["status"] == "completed"
        lost = by_node["node-b"]
        assert lost["status"] == "failed" and "node node-b" in lost["errors"][0] and "lost" in lost["errors"][0]
        assert lost["hardware"]["fingerprint"] and lost["validity"]["verdict"]
        assert "[node-b] failed" in err and "[node-a] done" in err
    finally:
        cluster.add_node("node-b", "node_b")    # whole again for any test after this one
        cluster.wait_for_nodes(2)
