"""rightsize's fixed-pair load curve against llama.cpp's own llama-batched-bench, interleaved.

    python benchmarks/batched_bench_side_by_side.py --batched-bench PATH/llama-batched-bench \\
        --model tiny --scenario fixed-1k1k --concurrency 1,2,4 --threads 1 --rounds 2

The two measure the same engine on the same GGUF in different ways, so a wrong clock or token
count on our side shows as a gap that grows with the batch:
- rightsize: `bench run --scenario fixed-1k1k --concurrency ...` in process, a closed loop of
  requests of exactly N in and M out: output tokens/s of the box (summary.output_tps) and per user
  (1 / median TPOT, the dashboard curve's x axis).
- llama-batched-bench `-npp N -ntg M -npl c`: c sequences prefilled in one batch, then M decode
  steps of c tokens each. Box: c*M / (T_PP + T_TG), the output rate of requests that each prefill
  then decode; per user: M / T_TG.
The closed loop prefills new requests between other requests' decode steps, which slows each
user's steps (TPOT) and the box alike, so rightsize should come out at or a little under
batched-bench, by no more than the prefill's share of a request's time. Rounds alternate which
tool goes first (this machine's speed drifts from minute to minute).

llama-batched-bench is built from the llama.cpp that llama-cpp-python vendors (see
benchmarks/llama_bench_side_by_side.py; `--target llama-batched-bench`). `--out FILE` keeps every
figure as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.llama_bench_side_by_side import bench_run_json, gguf_for
from scenarios.workloads import BUILTIN


def run_batched_bench(binary: str, gguf: Path, n_in: int, n_out: int, users: list[int], threads: int) -> dict[int, dict]:
    ctx = max(users) * (n_in + n_out)
    cmd = [binary, "-m", str(gguf), "-npp", str(n_in), "-ntg", str(n_out), "-npl", ",".join(map(str, users)),
           "-c", str(ctx), "-t", str(threads), "-tb", str(threads), "--output-format", "jsonl"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return {r["pl"]: {"box_tps": r["pl"] * r["tg"] / r["t"], "per_user_tps": r["tg"] / r["t_tg"],
                      "decode_tps": r["speed_tg"], "t_pp_s": r["t_pp"], "t_tg_s": r["t_tg"]} for r in rows}


def run_rightsize(gguf: Path, scenario: str, users: list[int], threads: int, requests: int) -> dict[int, dict]:
    doc = bench_run_json("--model", str(gguf), "--scenario", scenario, "--concurrency", ",".join(map(str, users)),
                         "--requests", str(requests), "--threads", str(threads))
    out = {}
    for sc in doc["scenarios"]:
        s = sc["summary"]
        out[sc["params"]["concurrency"]] = {"box_tps": s["output_tps"], "per_user_tps": 1 / s["tpot_s"]["median"],
                                            "ttft_median_s": s["ttft_s"]["median"], "verdict": sc["validity"]["verdict"]}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batched-bench", required=True, help="path to llama.cpp's llama-batched-bench binary")
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--quant", default="Q4_K_M")
    ap.add_argument("--scenario", default="fixed-1k1k", help="a fixed-length profile (stddev 0)")
    ap.add_argument("--concurrency", default="1,2,4")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--requests", type=int, default=8, help="rightsize's measured requests per level")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    profile = BUILTIN[args.scenario]
    if profile.input.stddev or profile.output.stddev:
        sys.exit(f"error: {args.scenario} has varying lengths; batched-bench runs fixed ones: use a fixed-* profile")
    n_in, n_out = profile.input.mean, profile.output.mean
    users = [int(u) for u in args.concurrency.split(",")]
    gguf = gguf_for(args.model, args.quant)
    print(f"{gguf.name}: {n_in} in, {n_out} out, concurrency {users}, {args.threads} threads, {args.rounds} rounds",
          flush=True)
    rounds: list[dict[str, Any]] = []
    for i in range(args.rounds):
        order = ("batched-bench", "rightsize") if i % 2 == 0 else ("rightsize", "batched-bench")
        got: dict[str, Any] = {}
        for tool in order:
            started = time.time()
            got[tool] = (run_batched_bench(args.batched_bench, gguf, n_in, n_out, users, args.threads)
                         if tool == "batched-bench" else
                         run_rightsize(gguf, args.scenario, users, args.threads, args.requests))
            got[f"{tool}_wall_s"] = round(time.time() - started, 1)
        got["ratio"] = {c: {k: got["rightsize"][c][k] / got["batched-bench"][c][k] for k in ("box_tps", "per_user_tps")}
                        for c in users}
        rounds.append({"order": order, **got})
        for c in users:
            ours, theirs, r = got["rightsize"][c], got["batched-bench"][c], got["ratio"][c]
            print(f"round {i + 1} c{c}: box {ours['box_tps']:.1f} vs {theirs['box_tps']:.1f} tok/s ({r['box_tps']:.3f}), "
                  f"per user {ours['per_user_tps']:.1f} vs {theirs['per_user_tps']:.1f} ({r['per_user_tps']:.3f})",
                  flush=True)
    # the median of the per-round ratios, and each tool's median rate (the first level of whichever
    # tool goes first in a round can run slow: the alternation spreads that over both)
    summary = {c: {k: {"ratio": statistics.median(r["ratio"][c][k] for r in rounds),
                       **{tool: statistics.median(r[tool][c][k] for r in rounds) for tool in ("rightsize", "batched-bench")}}
                   for k in ("box_tps", "per_user_tps")} for c in users}
    print("rightsize / batched-bench, median over rounds: " + "; ".join(
        f"c{c} box {s['box_tps']['rightsize']:.1f} / {s['box_tps']['batched-bench']:.1f} tok/s "
        f"(ratio {s['box_tps']['ratio']:.3f}), per user {s['per_user_tps']['rightsize']:.1f} / "
        f"{s['per_user_tps']['batched-bench']:.1f} (ratio {s['per_user_tps']['ratio']:.3f})" for c, s in summary.items()))
    if args.out:
        args.out.write_text(json.dumps({"gguf": str(gguf), "args": vars(args) | {"out": str(args.out)},
                                        "rounds": rounds, "summary": summary}, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
