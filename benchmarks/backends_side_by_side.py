"""Every backend on the same synthetic architecture, side by side: pp, tg and single-stream.

    python benchmarks/backends_side_by_side.py --model tiny --model mid \\
        --python llamacpp=.venv/bin/python --python torch=.venv-torch/bin/python \\
        --python vllm=.venv-vllm/bin/python --python mlx=.venv-mlx/bin/python

Each engine lives in a virtual environment of its own, so each run is a child process started
with that environment's Python (`--one`), which builds the model in the engine's format (GGUF,
Hugging Face, MLX; cached), runs it through bench.run.execute and writes the result JSON. The
parent prints one markdown table. Runs go one at a time: they would compete for the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.architecture import Architecture
from models.catalog import ModelSpec, get_model

# ~125M parameters: runs in about a minute per backend on a 2-core CPU.
MID = ModelSpec(id="mid-125m", name="mid llama 125M (benchmarks)", license="n/a (synthetic)",
                architecture=Architecture(family="llama", n_layers=12, hidden=768, n_heads=12, n_kv_heads=4,
                                          head_dim=64, ffn=2048, vocab=32000, tied_embeddings=False,
                                          rope_theta=10000.0, max_context=4096, rms_norm_eps=1e-5))
# (backend, quant, engine options): 16-bit weights everywhere, then each engine's 4-bit.
RUNS = [
    ("llamacpp", "F16", {}),
    ("torch", "bf16", {}),
    ("torch", "fp32", {}),
    ("vllm", "bf16", {"kv_cache_memory_bytes": 256 << 20}),
    ("mlx", "bf16", {}),
    ("llamacpp", "Q4_K_M", {}),
    ("mlx", "4bit", {}),
]


def spec_for(model: str) -> ModelSpec:
    return MID if model == "mid" else get_model(model)


def run_one(args) -> None:
    from bench.measurement import RunMeasurement
    from bench.run import engine_for, execute
    from models.synthetic_engines import materialize_for
    from scenarios.kinds import parse_scenarios
    from scenarios.request import RunRequest

    path, options = materialize_for(args.backend, spec_for(args.model), args.quant)
    options.update(json.loads(args.options))
    options.setdefault("n_threads", args.threads)
    spec, load = f"pp{args.pp},tg{args.tg},single-stream", {}
    if args.concurrency:
        # a short chat turn under load; lengths drawn per request (seeded, the same for every backend)
        workloads = Path(args.results_dir) / "side-by-side-workload.json"
        workloads.write_text(json.dumps({"short": {"input": {"mean": args.pp, "stddev": args.pp // 4},
                                                   "output": {"mean": args.tg, "stddev": args.tg // 4}}}))
        spec += ",short"
        load = {"workloads": workloads, "concurrency": args.concurrency, "slo": "ttft=1000s,tpot=1000s"}
    scenarios = parse_scenarios(spec, repetitions=args.repetitions, requests=args.repetitions, min_duration_s=0,
                                input_tokens=args.pp, output_tokens=args.tg, **load)
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    config = RunRequest(model=str(path), quant=args.quant, backend=args.backend, scenarios=scenarios,
                        backend_options=options, results_dir=Path(args.results_dir), idle_seconds=0)
    outcome = execute(config, backend=engine_for(config), measurement=RunMeasurement)
    outcome.result["wall_s"] = time.perf_counter() - t0
    # other work on the machine shows here: the 1-minute load average before and after
    outcome.result["loadavg_1m"] = [load_before, os.getloadavg()[0]]
    Path(args.out).write_text(json.dumps(outcome.result))


def _stat(sc: dict | None, key: str, stat: str = "median") -> float | None:
    s = sc["summary"].get(key) if sc else None
    return s[stat] if s else None


def row(result: dict) -> list[str]:
    sc = {s["kind"]: s for s in result["scenarios"]}
    pp, tg, ss = sc.get("pp"), sc.get("tg"), sc.get("single-stream")

    def fmt(v, scale=1.0, digits=1):
        return "—" if v is None else f"{v * scale:.{digits}f}"

    levels = [s for s in result["scenarios"] if s["kind"] == "concurrency"]
    under_load = "/".join(fmt(s["summary"].get("output_tps"), 1, 0) for s in levels) or "—"
    b = result["backend"] or {}
    load = result.get("loadavg_1m") or [None, None]
    return [result["config"]["backend"], result["model"]["quant"] or "?", b.get("device", "?"),
            fmt(_stat(pp, "pp_tps")), fmt(_stat(pp, "pp_tps", "max")),
            fmt(_stat(tg, "tg_tps")), fmt(_stat(tg, "tg_tps", "max")),
            fmt(_stat(ss, "ttft_s"), 1e3), fmt(_stat(ss, "tpot_s"), 1e3, 2), under_load,
            fmt(result.get("wall_s"), 1, 0), "/".join(fmt(x, 1, 1) for x in load), result["status"]]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", default=None, help="catalog id or 'mid' (repeatable)")
    p.add_argument("--python", action="append", default=[], help="BACKEND=path/to/python (repeatable)")
    p.add_argument("--only", default=None, help="comma-separated backends to run (default: those given --python)")
    p.add_argument("--skip", action="append", default=[], help="MODEL:BACKEND:QUANT not to run (repeatable)")
    p.add_argument("--pp", type=int, default=128)
    p.add_argument("--tg", type=int, default=32)
    p.add_argument("--repetitions", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--concurrency", default=None,
                   help="also a closed-loop sweep of pp-in / tg-out requests at these levels, e.g. 1,2,4,8")
    p.add_argument("--results-dir", default="results/side-by-side")
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--backend", help=argparse.SUPPRESS)
    p.add_argument("--quant", help=argparse.SUPPRESS)
    p.add_argument("--options", default="{}", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        args.model = args.model[0]
        return run_one(args)

    pythons = dict(kv.split("=", 1) for kv in args.python)
    only = set(args.only.split(",")) if args.only else set(pythons)
    # medians of the passes, and the best pass (the least disturbed by other work on the machine)
    header = ["backend", "quant", "device", "pp tok/s", "pp best", "tg tok/s", "tg best", "ss ttft ms",
              "ss tpot ms", f"tok/s at c{args.concurrency or '-'}", "wall s", "load 1m before/after", "status"]
    out_dir = Path(args.results_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for model in args.model or ["tiny"]:
        rows = []
        for backend, quant, options in RUNS:
            if backend not in only or backend not in pythons or f"{model}:{backend}:{quant}" in args.skip:
                continue
            out = out_dir / f"{model}-{backend}-{quant}.json"
            cmd = [pythons[backend], __file__, "--one", "--model", model, "--backend", backend, "--quant", quant,
                   "--options", json.dumps(options), "--out", str(out), "--pp", str(args.pp), "--tg", str(args.tg),
                   "--repetitions", str(args.repetitions), "--threads", str(args.threads),
                   *(["--concurrency", args.concurrency] if args.concurrency else []),
                   "--results-dir", str(out_dir)]
            print(f"# {model} {backend} {quant}", file=sys.stderr, flush=True)
            done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if done.returncode or not out.exists():
                print(done.stderr[-2000:], file=sys.stderr)
                rows.append([backend, quant, "?", *["—"] * 9, f"crashed ({done.returncode})"])
                continue
            rows.append(row(json.loads(out.read_text())))
        print(f"\n### {model} (pp{args.pp}, tg{args.tg}, single-stream {args.pp} in / {args.tg} out, "
              f"{args.repetitions} passes, {args.threads} threads)\n")
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for r in rows:
            print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
