"""How `bench dashboard` scales with the fleet: build seconds, page size and open seconds.

    python benchmarks/dashboard_scale.py                      # 10,000 results from 100 machines, and 1,000 / 40
    python benchmarks/dashboard_scale.py --sizes 2000/20 --rounds 1
    python benchmarks/dashboard_scale.py --before main        # and the code of another revision, alternated

For each size it writes N result documents (the template's schema version) from M machines into a temp dir, then, in
rounds that interleave the sizes, times build_site (what `bench dashboard` calls; in a fresh child
process each time, the call alone timed) and the page opening in headless Chromium over CDP until
the overview table has its rows. With --before REV, each round also builds and opens the page with
that revision's code (`git archive`), in turn first and second with this checkout's, on the same
inputs. Medians go to benchmarks/results/dashboard_scale.json with the CPU model.

BENCHMARK INPUTS, NOT MEASUREMENTS: every document is a copy of a real result under examples/runs
with its machine, model, quant, backend, repetition and figures varied (speed scaled by a
per-machine factor and run-to-run noise; about one run in ten marked INVALID).
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.dashboards.cdp_browser import Browser  # noqa: E402

TEMPLATE = ROOT / "examples" / "runs" / "2026-11-28T024018Z-vm-tiny-Q8_0-llamacpp.json"
MODELS = ["tiny", "llama-3.1-8b"]
QUANTS = ["Q4_K_M", "Q5_K_M", "Q8_0"]
BACKENDS = ["llamacpp", "llamacpp-server"]
THREADS = [2, 4, 8, 16, 32, 64]


def _scale(stats: dict, factor: float) -> None:
    for k in ("mean", "median", "p90", "p99", "min", "max", "stddev"):
        if stats.get(k) is not None:
            stats[k] *= factor
    if stats.get("ci95"):
        stats["ci95"] = [v * factor for v in stats["ci95"]]


def _vary(doc: dict, speed: float) -> None:
    """Rates up by `speed`, times down by it, in every scenario summary."""
    for sc in doc["scenarios"]:
        for key, value in sc["summary"].items():
            if isinstance(value, dict) and "median" in value:
                _scale(value, speed if key.endswith("_tps") else 1 / speed)
            elif isinstance(value, (int, float)) and key.endswith("_tps"):
                sc["summary"][key] = value * speed


def generate(n: int, machines: int, out: Path, seed: int = 18) -> None:
    rng = random.Random(seed)
    template = json.loads(TEMPLATE.read_text())
    for m in range(machines):
        host, speed = f"node-{m:03d}", rng.uniform(0.5, 4.0)
        fingerprint = f"{rng.getrandbits(64):016x}"
        threads = rng.choice(THREADS)
        for i in range(m, n, machines):               # runs dealt round-robin: N / M per machine
            doc = copy.deepcopy(template)
            model, quant, backend = rng.choice(MODELS), rng.choice(QUANTS), rng.choice(BACKENDS)
            doc.update(run_id=f"scale-{i:06d}", label=host, started_at=f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:00:00Z")
            doc["environment"]["hostname"] = host
            doc["hardware"].update(fingerprint=fingerprint)
            doc["hardware"]["cpu"].update(threads=threads, cores=threads // 2)
            doc["model"].update(id=model, quant=quant)
            doc["config"].update(model=model, quant=quant, backend=backend)
            _vary(doc, speed * rng.uniform(0.9, 1.1))
            verdict = "INVALID" if rng.random() < 0.1 else "VALID"
            reasons = ["high variance (benchmark input)"] if verdict == "INVALID" else []
            for sc in doc["scenarios"]:
                sc["validity"] = {"verdict": verdict, "reasons": reasons}
            doc["validity"] = {"verdict": verdict, "reasons": [f"{sc['name']}: {r}" for sc in doc["scenarios"] for r in reasons]}
            (out / f"{host}-{i:06d}.json").write_text(json.dumps(doc))


# The build in a child process, the code of `tree` first on its path: imports done before the clock
# starts, then one build_site call, as `bench dashboard` makes it.
_BUILD = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from dashboards.rows import CostSettings
from dashboards.site import build_site
t0 = time.perf_counter()
result = build_site([Path(sys.argv[2])], Path(sys.argv[3]), settings=CostSettings())
print(json.dumps([time.perf_counter() - t0, result.index.stat().st_size, len(result.rows)]))
"""


def time_build(tree: Path, results: Path, site: Path) -> tuple[float, int, int]:
    """(seconds, page bytes, runs) of build_site with the code under `tree`."""
    done = subprocess.run([sys.executable, "-c", _BUILD, str(tree), str(results), str(site)], cwd=tree,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the build with {tree} failed:\n{done.stderr[-2000:]}")
    seconds, size, runs = json.loads(done.stdout.splitlines()[-1])
    return seconds, size, runs


def checkout(rev: str, into: Path) -> str:
    """The code of revision `rev` of this repository under `into` (git archive: the repository and
    its work tree are left alone); returns the commit."""
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", rev], check=True, capture_output=True,
                            text=True).stdout.strip()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], check=True, capture_output=True).stdout
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return commit


def _until(browser: Browser, condition: str, t0: float, limit_s: float = 120.0) -> float:
    """Seconds from t0 until `condition` holds in the page (polled every 20 ms)."""
    while not browser.call("Runtime.evaluate", session=True, expression=condition, returnByValue=True,
                           timeout=limit_s)["result"].get("value"):     # the page may be busy drawing for a while
        if time.perf_counter() - t0 > limit_s:
            raise SystemExit(f"the page did not get to {condition!r} in {limit_s:g} s: {browser.problems()[:3]}")
        time.sleep(0.02)
    return time.perf_counter() - t0


def time_open(index: Path, profile: Path) -> tuple[float, float, int]:
    """(seconds to the overview's rows, seconds to every chart drawn, overview rows)."""
    browser = Browser(profile)
    try:
        t0 = time.perf_counter()
        browser.call("Page.navigate", session=True, url=index.resolve().as_uri())
        table = _until(browser, "document.querySelectorAll('#overview > tbody > tr').length > 0", t0)
        ready = _until(browser, "document.body.dataset.ready === '1'", t0)
        rows = browser.js("document.querySelectorAll('#overview > tbody > tr').length")
        problems = browser.problems()
        if problems:
            raise SystemExit(f"the page logged problems: {problems[:3]}")
        return table, ready, rows
    finally:
        browser.close()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _medians(rs: list[dict]) -> dict:
    return {k: None if rs[0][k] is None else statistics.median(x[k] for x in rs) for k in rs[0]} | {"all_rounds": rs}


def _s(seconds: float | None) -> str:
    return "not timed" if seconds is None else f"{seconds:.2f} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="+", default=["10000/100", "1000/40"], help="N/M: results / machines")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--before", metavar="REV", help="also time this git revision's code, alternated with this checkout's")
    ap.add_argument("--build-only", action="store_true", help="time the builds, not the page opening in Chromium")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "dashboard_scale.json")
    args = ap.parse_args()
    sizes = [tuple(int(x) for x in s.split("/")) for s in args.sizes]
    with tempfile.TemporaryDirectory(prefix="dashboard-scale-") as tmp_name:
        tmp = Path(tmp_name)
        trees = {"after": ROOT}
        before_commit = checkout(args.before, tmp / "before") if args.before else None
        if args.before:
            trees["before"] = tmp / "before"
        for n, m in sizes:
            (tmp / f"{n}-{m}").mkdir()
            generate(n, m, tmp / f"{n}-{m}")
        rounds: dict[str, dict[str, list[dict]]] = {side: {f"{n}/{m}": [] for n, m in sizes} for side in trees}
        for r in range(args.rounds):
            for n, m in sizes:                          # interleaved: size after size, round after round
                order = list(trees) if r % 2 else list(trees)[::-1]     # before first in even rounds
                for side in order:
                    site = tmp / f"site-{side}-{n}-{m}"
                    build_s, page_bytes, runs = time_build(trees[side], tmp / f"{n}-{m}", site)
                    table_s, ready_s, groups = (None, None, None) if args.build_only else \
                        time_open(site / "index.html", tmp / f"chromium-{side}-{r}-{n}")
                    rounds[side][f"{n}/{m}"].append({"build_s": build_s, "open_table_s": table_s,
                                                     "open_all_charts_s": ready_s, "page_mb": page_bytes / 1e6,
                                                     "runs": runs, "overview_rows": groups})
                    print(f"round {r + 1} {n}/{m} {side}: build {build_s:.2f} s, table {_s(table_s)}, "
                          f"all charts {_s(ready_s)}, {page_bytes / 1e6:.1f} MB, {groups} rows", flush=True)
    summary: dict = {"cpu": cpu_model(), "rounds": args.rounds, "inputs": "generated from " + TEMPLATE.name,
                     "sizes": {key: _medians(rs) for key, rs in rounds["after"].items()}}
    if before_commit:
        summary["before"] = {"commit": before_commit, "sizes": {key: _medians(rs) for key, rs in rounds["before"].items()}}
    for side in trees:
        for key, med in (summary["sizes"] if side == "after" else summary["before"]["sizes"]).items():
            print(f"median {key} {side}: build {med['build_s']:.2f} s, table {_s(med['open_table_s'])}, "
                  f"all charts {_s(med['open_all_charts_s'])}, page {med['page_mb']:.1f} MB, {med['overview_rows']} rows")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
