"""llama.cpp's CPU_REPACK kernels on and off, through rightsize, on the same GGUF, interleaved.

    python benchmarks/repack_on_off.py --model tinyllama-1.1b --rounds 4 --repetitions 3

CPU_REPACK re-lays quantized weights for the CPU's SIMD width at load time: decode usually gains,
prefill can lose. Each round runs `bench run` once with `--engine-option repack=on` and once with
`repack=off`, alternating which goes first (this machine's speed drifts from minute to minute),
and prints pp and tg tokens/s for both and the ratio off / on. `--out FILE` keeps it as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from llama_bench_side_by_side import gguf_for, run_rightsize


def main() -> int:
    from engines.llamacpp.engine import default_threads

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tinyllama-1.1b")
    ap.add_argument("--quant", default="Q4_K_M")
    ap.add_argument("--threads", type=int, default=default_threads())
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--repetitions", type=int, default=3)
    ap.add_argument("--pp", type=int, default=512)
    ap.add_argument("--tg", type=int, default=128)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    gguf = gguf_for(args.model, args.quant)
    print(f"{gguf.name}, {args.threads} threads, {args.rounds} rounds of {args.repetitions} passes", flush=True)
    rounds: list[dict[str, Any]] = []
    for i in range(args.rounds):
        order = ("on", "off") if i % 2 == 0 else ("off", "on")
        got = {}
        for setting in order:
            args.rightsize_arg = ["--engine-option", f"repack={setting}"]
            got[setting] = run_rightsize(gguf, args)
        ratio = {k: got["off"][k] / got["on"][k] for k in ("pp", "tg")}
        rounds.append({"order": order, **got, "ratio_off_on": ratio})
        print(f"round {i + 1} ({order[0]} first): pp{args.pp} on {got['on']['pp']:.2f} off {got['off']['pp']:.2f} "
              f"ratio {ratio['pp']:.3f} | tg{args.tg} on {got['on']['tg']:.2f} off {got['off']['tg']:.2f} "
              f"ratio {ratio['tg']:.3f}", flush=True)
    summary = {k: {"median": statistics.median(r["ratio_off_on"][k] for r in rounds),
                   "min": min(r["ratio_off_on"][k] for r in rounds),
                   "max": max(r["ratio_off_on"][k] for r in rounds)} for k in ("pp", "tg")}
    print(f"repack off / on, median (min-max) over {args.rounds} rounds: "
          f"pp{args.pp} {summary['pp']['median']:.3f} ({summary['pp']['min']:.3f}-{summary['pp']['max']:.3f}), "
          f"tg{args.tg} {summary['tg']['median']:.3f} ({summary['tg']['min']:.3f}-{summary['tg']['max']:.3f})")
    if args.out:
        args.out.write_text(json.dumps({"model": args.model, "quant": args.quant, "gguf": str(gguf),
                                        "threads": args.threads, "rounds": rounds, "summary": summary},
                                       indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
