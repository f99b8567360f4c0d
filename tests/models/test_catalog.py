import dataclasses

import pytest

from contract.errors import ModelError
from models.architecture import Architecture
from models.catalog import CATALOG, DEFAULT_MODEL, ModelSpec, Sources, build_catalog, get_model
from models.quant import QUANTS, get_quant, parse_quants


def test_llama_31_8b_is_the_real_shape():
    a = get_model("llama-3.1-8b").architecture
    assert a.param_count() == 8_030_261_248  # Meta's published count
    assert a.kv_bytes_per_token() == 131_072  # 2 x 32 layers x 8 KV heads x 128 x 2 bytes
    assert a.kv_bytes_per_token(1) == 65_536
    assert DEFAULT_MODEL in CATALOG


ISSUE_MODELS = ["llama-3.1-8b", "llama-2-7b", "mistral-7b-v0.3", "qwen2.5-7b", "qwen2.5-14b", "qwen3-8b",
                "qwen3-14b", "gemma-2-9b", "phi-4", "deepseek-r1-distill-qwen-14b"]


@pytest.mark.parametrize("model_id", ISSUE_MODELS)
def test_catalog_models_reproduce_their_published_parameter_count(model_id):
    spec = get_model(model_id)
    assert spec.params is not None and spec.architecture.param_count() == spec.params
    assert spec.license and spec.config and spec.sources.hf
    assert spec.sources.gguf["Q4_K_M"].endswith(".gguf")


def test_kv_bytes_per_token_of_other_families():
    assert get_model("qwen2.5-7b").architecture.kv_bytes_per_token() == 2 * 28 * 4 * 128 * 2  # 56 KiB
    assert get_model("gemma-2-9b").architecture.kv_bytes_per_token() == 2 * 42 * 8 * 256 * 2  # head_dim 256
    assert get_model("phi-4").architecture.kv_bytes_per_token() == 2 * 40 * 10 * 128 * 2


def test_a_wrong_parameter_count_fails_loudly():
    spec = get_model("qwen2.5-7b")
    wrong = dataclasses.replace(spec, architecture=dataclasses.replace(spec.architecture, ffn=18432))
    published = "the published count is 7,615,616,512"
    with pytest.raises(ModelError, match=rf"'qwen2.5-7b'.*7,\d{{3}},\d{{3}},\d{{3}} parameters, {published}"):
        build_catalog([wrong])


@pytest.mark.parametrize(
    "sources, fragment",
    [
        (Sources(gguf={"Q4_K_X": "a/b/c.gguf"}), "llamacpp sources for quants not in the ladder"),
        (Sources(mlx={"5bit": "mlx-community/x-5bit"}), "mlx sources for quants not in the ladder"),
        (Sources(gguf={"Q4_K_M": "a/b/c.bin"}), "bad llamacpp source"),
        (Sources(vllm={"awq-int4": "no-slash"}), "bad vllm source"),
    ],
)
def test_bad_sources_fail_validation(sources, fragment):
    with pytest.raises(ModelError, match=fragment):
        build_catalog([dataclasses.replace(get_model("tiny"), sources=sources)])


def test_sources_pick_the_download_for_each_rung():
    s = get_model("llama-3.1-8b").sources
    gguf = "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf"
    assert s.get("llamacpp", "Q4_K_M") == gguf
    assert s.get("vllm", "awq-int4") == "hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4"
    assert s.get("vllm", "bf16") == s.get("torch", "fp32") == "meta-llama/Llama-3.1-8B-Instruct"
    q8, mlx_3bit = s.get("llamacpp", "Q8_0"), s.get("mlx", "3bit")
    assert q8 is not None and mlx_3bit is not None
    assert s.is_verified(q8) and not s.is_verified(mlx_3bit)
    assert get_model("llama-2-7b").sources.get("llamacpp", "IQ4_XS") is None  # nobody published it


def test_tiny_is_small_and_k_quantizable():
    a = get_model("TINY").architecture
    assert a.param_count() < 20_000_000
    assert a.hidden % 256 == 0 and a.ffn % 256 == 0


def test_unknown_model_names_the_known_ones():
    with pytest.raises(ModelError) as e:
        get_model("llama-9b")
    assert "llama-9b" in str(e.value)
    for known in CATALOG:
        assert known in str(e.value)
    assert "\n" not in str(e.value)


def _spec(**changes):
    base = get_model("tiny")
    return dataclasses.replace(base, architecture=dataclasses.replace(base.architecture, **changes))


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"n_kv_heads": 3}, "does not divide"),
        ({"head_dim": 32}, "!= hidden"),
        ({"ffn": 0}, "ffn must be positive"),
        ({"family": "mamba"}, "unknown family"),
        ({"sliding_window": 64}, "family llama has no sliding_window"),
        ({"family": "gemma2", "head_dim": 32}, "family gemma2 needs sliding_window"),
    ],
)
def test_catalog_rejects_inconsistent_entries(changes, fragment):
    with pytest.raises(ModelError, match=fragment):
        build_catalog([_spec(**changes)])


def test_catalog_rejects_duplicate_ids():
    with pytest.raises(ModelError, match="duplicate"):
        build_catalog([get_model("tiny"), get_model("tiny")])


def test_parse_quants_is_case_insensitive_and_ordered():
    assert [q.name for q in parse_quants("q8_0, Q4_K_M,q8_0")] == ["Q8_0", "Q4_K_M"]


@pytest.mark.parametrize("text", ["Q4_K_X", "Q8_0,fp8", ""])
def test_unknown_quant_names_the_valid_ones(text):
    with pytest.raises(ModelError) as e:
        parse_quants(text)
    for name in QUANTS:
        assert name in str(e.value)


def test_ftypes_match_llama_h():
    llama_cpp = pytest.importorskip("llama_cpp")
    for q in QUANTS.values():
        constant = "LLAMA_FTYPE_MOSTLY_" + q.name
        assert getattr(llama_cpp, constant) == q.ftype, q.name
    assert get_quant("iq4_xs").default_type == "IQ4_XS"


def test_architecture_is_frozen():
    a = Architecture("llama", 1, 256, 4, 4, 64, 256, 300, True, 1e4, 512, 1e-5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(a, "hidden", 512)  # noqa: B010 - at run time: mypy already refuses `a.hidden = 512`
    assert isinstance(get_model("tiny"), ModelSpec)
