"""rightsize against llama.cpp's own llama-bench: the same GGUF, threads and defaults, interleaved.

    python benchmarks/llama_bench_side_by_side.py --llama-bench PATH/llama-bench --model llama-3.1-8b \\
        --rounds 3 --repetitions 2

Each round runs both tools once, alternating which goes first (this machine's speed drifts from
minute to minute, so the two sides must share each minute), and prints pp and tg tokens/s for
both and their ratio (rightsize / llama-bench). Both sides run at their defaults unless told:
`--rightsize-arg` and `--llama-bench-arg` (repeatable) add options to one side, e.g.
`--rightsize-arg=--engine-option --rightsize-arg=repack=off --llama-bench-arg=--repack --llama-bench-arg=0`.

llama-bench is built from the llama.cpp that llama-cpp-python vendors, so both run the same code:
    pip download llama-cpp-python==0.3.36 --no-binary :all: --no-deps
    tar xzf llama_cpp_python-0.3.36.tar.gz && cd llama_cpp_python-0.3.36/vendor/llama.cpp
    cmake -B build -DGGML_NATIVE=ON -DLLAMA_CURL=OFF && cmake --build build --target llama-bench -j
`--model` is a catalog id (built synthetically, cached), `tinyllama-1.1b` (a mid-size shape defined
here) or a path to a .gguf file. `--depth D` runs both at depth D: llama-bench `-d D` against
rightsize's `pp<N>@d<D>,tg<N>@d<D>`. `--out FILE` keeps every figure as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.architecture import Architecture
from models.catalog import ModelSpec, get_model

# TinyLlama-1.1B's architecture (its config.json): ~0.67 GB at Q4_K_M, a mid-size model between
# the test model and the 7B-14B ones, fast enough to measure in minutes on 2 cores.
TINYLLAMA = ModelSpec(id="tinyllama-1.1b", name="TinyLlama-1.1B shape (benchmarks)", license="n/a (synthetic)",
                      architecture=Architecture(family="llama", n_layers=22, hidden=2048, n_heads=32, n_kv_heads=4,
                                                head_dim=64, ffn=5632, vocab=32000, tied_embeddings=False,
                                                rope_theta=10000.0, max_context=2048, rms_norm_eps=1e-5))


def gguf_for(model: str, quant: str) -> Path:
    if model.endswith(".gguf"):
        return Path(model)
    from models.synthetic import materialize

    return materialize(TINYLLAMA if model == TINYLLAMA.id else get_model(model), quant)


def run_llama_bench(binary: str, gguf: Path, args) -> dict:
    cmd = [binary, "-m", str(gguf), "-p", str(args.pp), "-n", str(args.tg), "-r", str(args.repetitions),
           "-t", str(args.threads), "-d", str(args.depth), "-o", "json", *args.llama_bench_arg]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    tests = json.loads(out)
    pp = next(t for t in tests if t["n_prompt"] == args.pp and t["n_gen"] == 0 and t.get("n_depth", 0) == args.depth)
    tg = next(t for t in tests if t["n_gen"] == args.tg and t["n_prompt"] == 0 and t.get("n_depth", 0) == args.depth)
    return {"pp": pp["avg_ts"], "tg": tg["avg_ts"], "pp_samples": pp["samples_ts"], "tg_samples": tg["samples_ts"],
            "build": f"{tg.get('build_commit')} ({tg.get('build_number')})", "flash_attn": tg.get("flash_attn"),
            "n_threads": tg.get("n_threads"), "cpu": tg.get("cpu_info")}


def bench_run_json(*args: str) -> dict:
    """`bench run ARGS` in a process of its own, no idle baseline or minimum duration, its result
    kept in a scratch directory: the result document."""
    with tempfile.TemporaryDirectory() as results:
        cmd = [sys.executable, "-m", "bench.commands.main", "run", *args, "--min-duration", "0",
               "--idle-seconds", "0", "--results-dir", results, "--json"]
        return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)


def run_rightsize(gguf: Path, args) -> dict:
    doc = bench_run_json("--model", str(gguf), "--scenario", f"pp{args.pp}{_at(args)},tg{args.tg}{_at(args)}",
                         "--repetitions", str(args.repetitions), "--threads", str(args.threads), *args.rightsize_arg)
    pp, tg = (next(s for s in doc["scenarios"] if s["kind"] == k) for k in ("pp", "tg"))
    backend = doc["backend"]
    return {"pp": pp["summary"]["pp_tps"]["mean"], "tg": tg["summary"]["tg_tps"]["mean"],
            "pp_samples": pp["samples"]["pp_tps"], "tg_samples": tg["samples"]["tg_tps"],
            "flash_attn": backend.get("flash_attn_resolved"), "kernels": backend.get("kernels"),
            "workarounds": [w["line"] for w in doc.get("workarounds") or []]}


def _at(args) -> str:
    """The depth suffix of rightsize's scenario names (llama-bench prints `pp512 @ d4096`)."""
    return f"@d{args.depth}" if args.depth else ""


def main() -> int:
    from engines.llamacpp.engine import default_threads

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llama-bench", required=True, help="path to llama.cpp's llama-bench binary")
    ap.add_argument("--model", default="llama-3.1-8b")
    ap.add_argument("--quant", default="Q4_K_M")
    ap.add_argument("--threads", type=int, default=default_threads())
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repetitions", type=int, default=2, help="measured passes per tool per round")
    ap.add_argument("--pp", type=int, default=512)
    ap.add_argument("--tg", type=int, default=128)
    ap.add_argument("--depth", type=int, default=0, help="tokens in the cache before each pass (llama-bench -d)")
    ap.add_argument("--rightsize-arg", action="append", default=[])
    ap.add_argument("--llama-bench-arg", action="append", default=[])
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    gguf = gguf_for(args.model, args.quant)
    print(f"{gguf.name} ({gguf.stat().st_size / 2**30:.2f} GiB), {args.threads} threads, {args.rounds} rounds of "
          f"{args.repetitions} passes; rightsize {' '.join(args.rightsize_arg) or 'defaults'}, "
          f"llama-bench {' '.join(args.llama_bench_arg) or 'defaults'}", flush=True)
    rounds: list[dict[str, Any]] = []
    for i in range(args.rounds):
        order = ("llama-bench", "rightsize") if i % 2 == 0 else ("rightsize", "llama-bench")
        got = {}
        for tool in order:
            started = time.time()
            got[tool] = run_llama_bench(args.llama_bench, gguf, args) if tool == "llama-bench" else run_rightsize(gguf, args)
            got[tool]["wall_s"] = round(time.time() - started, 1)
        # means, as llama-bench reports; the ratio of medians is kept too (robust to one disturbed pass)
        ratio = {k: got["rightsize"][k] / got["llama-bench"][k] for k in ("pp", "tg")}
        ratio.update({f"{k}_median": statistics.median(got["rightsize"][f"{k}_samples"])
                      / statistics.median(got["llama-bench"][f"{k}_samples"]) for k in ("pp", "tg")})
        rounds.append({"order": order, **got, "ratio": ratio})
        print(f"round {i + 1} ({order[0]} first): pp{args.pp}{_at(args)} llama-bench {got['llama-bench']['pp']:.2f} rightsize "
              f"{got['rightsize']['pp']:.2f} ratio {ratio['pp']:.3f} | tg{args.tg}{_at(args)} llama-bench "
              f"{got['llama-bench']['tg']:.2f} rightsize {got['rightsize']['tg']:.2f} ratio {ratio['tg']:.3f}", flush=True)
    summary = {k: {"median": statistics.median(r["ratio"][k] for r in rounds),
                   "min": min(r["ratio"][k] for r in rounds), "max": max(r["ratio"][k] for r in rounds)}
               for k in ("pp", "tg", "pp_median", "tg_median")}
    print(f"ratio rightsize / llama-bench, median (min-max) over {args.rounds} rounds: "
          f"pp{args.pp}{_at(args)} {summary['pp']['median']:.3f} ({summary['pp']['min']:.3f}-{summary['pp']['max']:.3f}), "
          f"tg{args.tg}{_at(args)} {summary['tg']['median']:.3f} ({summary['tg']['min']:.3f}-{summary['tg']['max']:.3f}); "
          f"of per-round sample medians: pp {summary['pp_median']['median']:.3f}, tg {summary['tg_median']['median']:.3f}")
    first = rounds[0]
    print(f"llama-bench build {first['llama-bench']['build']}, flash_attn {first['llama-bench']['flash_attn']}; "
          f"rightsize flash attention {first['rightsize']['flash_attn']}, kernels "
          f"{(first['rightsize']['kernels'] or {}).get('extra_buffer_types')}")
    if args.out:
        args.out.write_text(json.dumps({"model": args.model, "quant": args.quant, "gguf": str(gguf),
                                        "threads": args.threads, "args": vars(args) | {"out": str(args.out)},
                                        "rounds": rounds, "summary": summary}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
