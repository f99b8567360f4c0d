"""How long a synthetic model build takes, and whether llama.cpp runs the result.

    .venv/bin/python benchmarks/synthetic_build.py --model llama-3.1-8b --quant Q4_K_M --generate 8

Builds into a fresh temporary cache (deleted afterwards unless --keep), so the time is a cold build.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.catalog import DEFAULT_MODEL, get_model
from models.gguf_file import inspect_gguf
from models.synthetic import expected_file_size, materialize


def _generate(path: Path, n_tokens: int, threads: int | None) -> None:
    import llama_cpp

    t0 = time.perf_counter()
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=512, n_threads=threads, verbose=False)
    print(f"load: {time.perf_counter() - t0:.1f} s")
    prompt = llm.tokenize(b"The quick brown fox")
    stamps, tokens = [time.perf_counter()], []
    for token in llm.generate(prompt, temp=0.0):
        stamps.append(time.perf_counter())
        tokens.append(token)
        if len(tokens) == n_tokens + 1:
            break
    # the first token's wait includes the prompt; the gaps after it are pure decode steps
    print(f"prompt ({len(prompt)} tokens) + first token: {stamps[1] - stamps[0]:.2f} s")
    print(f"generated {tokens}; tg ~ {n_tokens / (stamps[-1] - stamps[1]):.2f} tok/s over {n_tokens} tokens")
    llm.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--quant", default="Q4_K_M")
    ap.add_argument("--cache-dir", type=Path, help="build here and keep the file (default: a temp dir)")
    ap.add_argument("--generate", type=int, default=0, metavar="N", help="then load it and decode N tokens")
    ap.add_argument("--threads", type=int, help="llama.cpp threads for --generate")
    args = ap.parse_args()

    spec = get_model(args.model)
    cache = args.cache_dir or Path(tempfile.mkdtemp(prefix="rightsize-bench-"))
    try:
        t0 = time.perf_counter()
        path = materialize(spec, args.quant, cache_dir=cache)
        build_s = time.perf_counter() - t0
        size = path.stat().st_size
        summary = inspect_gguf(path)
        print(f"{spec.id} {args.quant}: built in {build_s:.1f} s -> {path}")
        print(f"size: {size:,} bytes = {size / 2**30:.2f} GiB = {size / 1e9:.2f} GB "
              f"(expected {expected_file_size(spec, args.quant):,}); types {summary.type_counts}")  # fmt: skip
        if args.generate:
            _generate(path, args.generate, args.threads)
    finally:
        if args.cache_dir is None:
            shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
