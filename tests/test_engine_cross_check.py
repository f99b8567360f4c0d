"""Our clock against llama.cpp's own perf counters (llama_perf_context) for the same generations."""

import pytest

from bench.measurement import RunMeasurement
from bench.run import engine_for, execute
from models.architecture import Architecture
from models.catalog import ModelSpec
from models.synthetic import materialize
from scenarios.kinds import parse_scenarios
from scenarios.request import RunRequest

pytestmark = pytest.mark.engine   # real llama.cpp on a larger model

# Big enough that a decode step (~10 ms here) dwarfs Python's per-token overhead (~0.1 ms),
# as it does for real 7B-14B models; small enough to build in seconds.
MID = ModelSpec(
    id="cross-check-mid", name="mid llama for cross-checks", license="n/a (synthetic)",
    architecture=Architecture(family="llama", n_layers=4, hidden=2048, n_heads=16, n_kv_heads=4,
                              head_dim=128, ffn=5632, vocab=32000, tied_embeddings=False,
                              rope_theta=10000.0, max_context=4096, rms_norm_eps=1e-5),
)


@pytest.mark.slow
def test_pp_and_tg_rates_agree_with_llama_perf_counters(tmp_path):
    path = materialize(MID, "Q4_K_M")
    config = RunRequest(model=str(path), quant="Q4_K_M", backend="llamacpp",
                        scenarios=parse_scenarios("pp256,tg32", repetitions=3, min_duration_s=0),
                        backend_options={"n_ctx": 512}, results_dir=tmp_path)
    outcome = execute(config, backend=engine_for(config), measurement=RunMeasurement)
    assert outcome.result["status"] == "completed"
    for sc in outcome.result["scenarios"]:
        check = sc["engine_cross_check"]
        assert check is not None, sc["name"]
        # ours includes the greedy pick and Python's hand-off, so it is a little slower, never faster
        assert -0.08 < check["relative_difference"] < 0.005, (sc["name"], check)
        assert len(sc["engine_reported"]) == 3
