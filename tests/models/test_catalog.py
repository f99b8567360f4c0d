import dataclasses

import pytest

from bench.errors import ModelError
from models.architecture import Architecture
from models.catalog import CATALOG, DEFAULT_MODEL, ModelSpec, build_catalog, get_model
from models.quant import QUANTS, get_quant, parse_quants


def test_llama_31_8b_is_the_real_shape():
    a = get_model("llama-3.1-8b").architecture
    assert a.param_count() == 8_030_261_248  # Meta's published count
    assert a.kv_bytes_per_token() == 131_072  # 2 x 32 layers x 8 KV heads x 128 x 2 bytes
    assert a.kv_bytes_per_token(1) == 65_536
    assert DEFAULT_MODEL in CATALOG


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
        a.hidden = 512
    assert isinstance(get_model("tiny"), ModelSpec)
