"""A small, seeded generator of Mooncake-format traces, for trying trace replay without a download.

Arrivals are Poisson at --rate requests/s, and a --burst fraction of them bring a burst of
--burst-size requests within a few milliseconds. Each request opens with one of --prefixes shared
prefixes (picked with weights 1, 1/2, 1/3, ...: a few system prompts or documents most requests
share) of --prefix-blocks blocks, then blocks of its own; each block is a hash id, as in Mooncake's
traces, so a replay (scenarios/trace_prompts.py) shares exactly those prefixes. The request's own
part and its output are drawn uniformly from the given ranges.

    python -m scenarios.trace_gen --requests 40 --rate 10 --seed 1 > my-trace.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterator

from scenarios.trace_prompts import BLOCK_TOKENS


def generate(requests: int, *, rate: float, seed: int = 0, burst: float = 0.2, burst_size: int = 4,
             prefixes: int = 3, prefix_blocks: int = 1, own_tokens: tuple[int, int] = (16, 512),
             output_tokens: tuple[int, int] = (4, 32), block_tokens: int = BLOCK_TOKENS) -> Iterator[dict]:
    """Mooncake rows: timestamp (ms), input_length, output_length, hash_ids."""
    rng = random.Random(f"trace-gen:{seed}")
    prefix_ids = [list(range(p * prefix_blocks, (p + 1) * prefix_blocks)) for p in range(prefixes)]
    next_id = prefixes * prefix_blocks              # hash ids of requests' own blocks start here
    weights = [1 / (p + 1) for p in range(prefixes)]
    t_ms, pending = 0.0, 0
    for _ in range(requests):
        if pending:
            t_ms += rng.uniform(0.1, 2.0)           # within a burst: a few ms apart
            pending -= 1
        else:
            t_ms += rng.expovariate(rate) * 1e3
            if rng.random() < burst:
                pending = burst_size - 1
        shared = rng.choices(prefix_ids, weights)[0] if prefixes else []
        own = rng.randint(*own_tokens)
        n_in = len(shared) * block_tokens + own
        n_blocks = -(-n_in // block_tokens)
        ids = shared + list(range(next_id, next_id + n_blocks - len(shared)))
        next_id += n_blocks - len(shared)
        yield {"timestamp": round(t_ms), "input_length": n_in, "output_length": rng.randint(*output_tokens),
               "hash_ids": ids}


def _range(text: str) -> tuple[int, int]:
    lo, _, hi = text.partition("-")
    low, high = int(lo), int(hi or lo)
    if not 0 <= low <= high:
        raise argparse.ArgumentTypeError(f"{text!r} is not a range such as 16-512")
    return low, high


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scenarios.trace_gen", description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=40)
    p.add_argument("--rate", type=float, default=10.0, help="mean arrivals per second (bursts aside)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--burst", type=float, default=0.2, help="fraction of arrivals that bring a burst")
    p.add_argument("--burst-size", type=int, default=4)
    p.add_argument("--prefixes", type=int, default=3, help="shared prefixes (0: none)")
    p.add_argument("--prefix-blocks", type=int, default=1, help=f"blocks of {BLOCK_TOKENS} tokens per shared prefix")
    p.add_argument("--own-tokens", type=_range, default=(16, 512), help="each request's own input tokens, LOW-HIGH")
    p.add_argument("--output-tokens", type=_range, default=(4, 32), help="output tokens, LOW-HIGH")
    a = p.parse_args(argv)
    if a.requests < 2 or a.rate <= 0 or not 0 <= a.burst <= 1 or a.burst_size < 1 or a.prefixes < 0 \
            or a.prefix_blocks < 0 or a.output_tokens[0] < 1:
        p.error("--requests at least 2, --rate positive, --burst in [0, 1], --burst-size and outputs at least 1")
    for row in generate(a.requests, rate=a.rate, seed=a.seed, burst=a.burst, burst_size=a.burst_size,
                        prefixes=a.prefixes, prefix_blocks=a.prefix_blocks, own_tokens=a.own_tokens,
                        output_tokens=a.output_tokens):
        sys.stdout.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
