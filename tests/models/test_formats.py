"""Sizes per rung of the ladder: GGUF against llama.cpp's published files, the others by their rules."""

import tempfile
from pathlib import Path

import pytest

from contract.errors import ModelError
from models.catalog import get_model
from models.formats import LADDER, get_format, kv_bytes_per_token, weight_bytes
from models.plan import tensor_plan
from models.quant import get_quant
from models.synthetic import _header_bytes, _write_header

GiB = 1 << 30
LLAMA = get_model("llama-3.1-8b")


@pytest.mark.parametrize(
    "quant, published_gib",
    # llama.cpp's tools/quantize/README.md (anchors-power-cost.md, C2)
    [("Q4_K_M", 4.58), ("Q8_0", 7.95), ("F16", 14.96)],
)
def test_llama_31_8b_gguf_sizes_match_the_published_files(quant, published_gib):
    size = weight_bytes(LLAMA.architecture, get_format("llamacpp", quant), LLAMA.name).file_bytes
    assert abs(size / GiB - published_gib) / published_gib < 0.02
    # and closer than that: the tensor plan is llama.cpp's own (rounding of the published figure)
    assert abs(size / GiB - published_gib) < 0.006


def test_sized_header_equals_the_written_one_for_a_real_vocabulary():
    # the header of a 128k-token model is sized without packing the vocabulary; write it in full once
    quant = get_quant("F16")
    with tempfile.TemporaryDirectory() as tmp:
        written = _write_header(Path(tmp) / "h.gguf", LLAMA.name, LLAMA.architecture, quant,
                                tensor_plan(LLAMA.architecture, quant), seed=0)
    assert _header_bytes(LLAMA.name, LLAMA.architecture, 0) == written


def test_the_ladder_has_every_rung_of_the_issue():
    ladder = {(f.backend, f.quant) for f in LADDER}
    for q in ("F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K", "IQ4_XS"):
        assert ("llamacpp", q) in ladder
    for q in ("bf16", "8bit", "6bit", "4bit", "3bit"):
        assert ("mlx", q) in ladder
    for q in ("bf16", "fp8", "awq-int4", "gptq-int4", "gptq-int8"):
        assert ("vllm", q) in ladder
    for q in ("fp32", "bf16", "fp16"):
        assert ("torch", q) in ladder


def test_unquantized_formats_are_two_or_four_bytes_per_parameter():
    a = LLAMA.architecture
    assert weight_bytes(a, get_format("torch", "bf16")).file_bytes == 2 * a.param_count()
    assert weight_bytes(a, get_format("torch", "fp32")).file_bytes == 4 * a.param_count()
    assert kv_bytes_per_token(a, get_format("torch", "fp32")) == 2 * a.kv_bytes_per_token()


def test_quantized_formats_cost_what_their_bits_say():
    a = get_model("qwen2.5-7b").architecture
    bf16 = weight_bytes(a, get_format("mlx", "bf16")).file_bytes
    sizes = {q: weight_bytes(a, get_format("mlx", q)).file_bytes for q in ("8bit", "6bit", "4bit", "3bit")}
    # bits plus a bf16 scale and bias per 64 weights: 4.5 bits per weight at 4-bit
    assert sizes["4bit"] == pytest.approx(bf16 * 4.5 / 16, rel=0.01)
    assert bf16 > sizes["8bit"] > sizes["6bit"] > sizes["4bit"] > sizes["3bit"]
    awq = weight_bytes(a, get_format("vllm", "awq-int4")).file_bytes
    gptq4 = weight_bytes(a, get_format("vllm", "gptq-int4")).file_bytes
    gptq8 = weight_bytes(a, get_format("vllm", "gptq-int8")).file_bytes
    fp8 = weight_bytes(a, get_format("vllm", "fp8")).file_bytes
    # the 16-bit embeddings and LM head (1.09 B of Qwen2.5-7B's 7.6 B) keep these above bits / 16
    embeddings = 2 * 2 * a.vocab * a.hidden
    assert awq - embeddings == pytest.approx((bf16 - embeddings) * 4.156 / 16, rel=0.01)
    assert awq < gptq4 < fp8 < gptq8 < bf16


def test_bytes_per_token_skip_an_untied_embedding_table_only():
    for model_id, tied in (("llama-3.1-8b", False), ("gemma-2-9b", True)):
        spec = get_model(model_id)
        for fmt in (get_format("llamacpp", "Q4_K_M"), get_format("vllm", "bf16")):
            w = weight_bytes(spec.architecture, fmt, spec.name)
            if tied:  # the shared table is the LM head: read in full every token; only the header is not
                assert w.file_bytes - w.bytes_per_token < 8 << 20
            else:
                table = spec.architecture.vocab * spec.architecture.hidden
                assert w.file_bytes - w.bytes_per_token > table // 2  # at least half a byte per entry


@pytest.mark.parametrize("backend, quant, fragment", [
    ("mlx", "5bit", "unknown mlx quantization '5bit' .*valid: bf16, 8bit, 6bit, 4bit, 3bit"),
    ("tensorrt", "fp8", "unknown backend 'tensorrt'"),
    ("llamacpp", "Q9", "unknown quantization type 'Q9'"),
])
def test_unknown_rungs_name_the_valid_ones(backend, quant, fragment):
    with pytest.raises(ModelError, match=fragment):
        get_format(backend, quant)


def test_each_format_says_how_its_models_are_stored_and_defaults_to_a_rung_of_its_ladder():
    from models.fit import OVERHEAD_RULES
    from models.formats import FORMATS, local_format

    for name, fmt in FORMATS.items():
        assert fmt.name == name and fmt.files in ("gguf", "mlx", "hf"), name
        assert get_format(name, fmt.default_quant).quant == fmt.default_quant, name
        assert name in OVERHEAD_RULES, name                  # models/fit.py sizes what it runs
    assert [r for r in LADDER if r.backend == "torch"] == list(FORMATS["torch"].rungs())
    # a local directory is sized with the rule of the format that reads its kind
    assert local_format("mlx").name == "mlx" and local_format("hf").name == "torch"
