"""The models the suite knows by name: exact architectures and where the real weights live.

Checked when the module loads: an impossible shape, a parameter count that disagrees with the
published one, a download for a format the ladder does not have, or a duplicate id stops the
import with one line naming the entry. Architectures are copied from each model's own
config.json (`config` says which copy was read); repo names marked unverified follow the
publisher's naming pattern but were not seen when the entry was written.
"""

from __future__ import annotations

from collections.abc import Iterable

from contract.errors import ModelError
from models.architecture import Architecture, RopeScaling
from models.spec import ModelSpec, Sources

__all__ = ["CATALOG", "DEFAULT_MODEL", "ModelSpec", "Sources", "build_catalog", "get_model"]


DEFAULT_MODEL = "llama-3.1-8b"
_GGUF_LADDER = ("F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K", "IQ4_XS")


def _bartowski(repo_name: str, stem: str) -> dict[str, str]:
    """bartowski's layout: one repo per model, "<stem>-<QUANT>.gguf" per quant, "-f16" for F16."""
    return {q: f"bartowski/{repo_name}/{stem}-{'f16' if q == 'F16' else q}.gguf" for q in _GGUF_LADDER}


def _mlx(stem: str, bits: Iterable[str] = ("bf16", "8bit", "6bit", "4bit", "3bit")) -> dict[str, str]:
    return {b: f"mlx-community/{stem}-{b}" for b in bits}


_LLAMA3_ROPE = RopeScaling(factor=8.0, original_context=8192, low_freq_factor=1.0, high_freq_factor=4.0)
_QWEN25_14B = Architecture(
    family="qwen2", n_layers=48, hidden=5120, n_heads=40, n_kv_heads=8, head_dim=128, ffn=13824,
    vocab=152064, tied_embeddings=False, rope_theta=1000000.0, max_context=131072, rms_norm_eps=1e-5,
)
_MODEL_CONFIGS = "citsjtu2020/LLM-Prof sglang/Model_Config.md"

_ENTRIES = [
    ModelSpec(
        id="llama-3.1-8b",
        name="Llama 3.1 8B",
        architecture=Architecture(
            family="llama", n_layers=32, hidden=4096, n_heads=32, n_kv_heads=8, head_dim=128,
            ffn=14336, vocab=128256, tied_embeddings=False, rope_theta=500000.0,
            max_context=131072, rms_norm_eps=1e-5, rope_scaling=_LLAMA3_ROPE,
        ),
        license="Llama 3.1 Community License",
        params=8_030_261_248,
        config=f"meta-llama/Llama-3.1-8B config.json, copy in {_MODEL_CONFIGS}",
        sources=Sources(
            hf="meta-llama/Llama-3.1-8B-Instruct",
            gguf=_bartowski("Meta-Llama-3.1-8B-Instruct-GGUF", "Meta-Llama-3.1-8B-Instruct"),
            mlx=_mlx("Meta-Llama-3.1-8B-Instruct"),
            vllm={
                "fp8": "neuralmagic/Meta-Llama-3.1-8B-Instruct-FP8",
                "awq-int4": "hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4",
                "gptq-int4": "hugging-quants/Meta-Llama-3.1-8B-Instruct-GPTQ-INT4",
                "gptq-int8": "neuralmagic/Meta-Llama-3.1-8B-Instruct-quantized.w8a16",
            },
            verified=frozenset({"meta-llama/Llama-3.1-8B-Instruct", "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF",
                                "hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4"}),
        ),
    ),
    ModelSpec(
        id="llama-2-7b",
        name="Llama 2 7B",
        architecture=Architecture(
            family="llama", n_layers=32, hidden=4096, n_heads=32, n_kv_heads=32, head_dim=128,
            ffn=11008, vocab=32000, tied_embeddings=False, rope_theta=10000.0,
            max_context=4096, rms_norm_eps=1e-5,
        ),
        license="Llama 2 Community License",
        params=6_738_415_616,
        notes="llama.cpp's reference model for its published benchmarks (base model, not chat)",
        config="meta-llama/Llama-2-7b-hf config.json, copy in a public test fixture (llama_2_config)",
        sources=Sources(
            hf="meta-llama/Llama-2-7b-hf",
            # TheBloke published no F16 or IQ4_XS file; lowercase "<stem>.<QUANT>.gguf"
            gguf={q: f"TheBloke/Llama-2-7B-GGUF/llama-2-7b.{q}.gguf"
                  for q in _GGUF_LADDER if q not in ("F16", "IQ4_XS")},
            vllm={"awq-int4": "TheBloke/Llama-2-7B-AWQ", "gptq-int4": "TheBloke/Llama-2-7B-GPTQ"},
            verified=frozenset({"meta-llama/Llama-2-7b-hf", "TheBloke/Llama-2-7B-GGUF"}),
        ),
    ),
    ModelSpec(
        id="mistral-7b-v0.3",
        name="Mistral 7B v0.3",
        architecture=Architecture(
            family="llama", n_layers=32, hidden=4096, n_heads=32, n_kv_heads=8, head_dim=128,
            ffn=14336, vocab=32768, tied_embeddings=False, rope_theta=1000000.0,
            max_context=32768, rms_norm_eps=1e-5,
        ),
        license="Apache-2.0",
        params=7_248_023_552,
        notes="llama.cpp runs Mistral 7B as the llama architecture; v0.3 has no sliding window",
        config="mistralai/Mistral-7B-v0.3 config.json as quoted in public model tables (layers, dims, "
               "vocab 32768, eps, no sliding window); rope_theta 1e6 not seen in a copy",
        sources=Sources(
            hf="mistralai/Mistral-7B-Instruct-v0.3",
            gguf=_bartowski("Mistral-7B-Instruct-v0.3-GGUF", "Mistral-7B-Instruct-v0.3"),
            mlx=_mlx("Mistral-7B-Instruct-v0.3", ("bf16", "8bit", "4bit")),
            verified=frozenset({"mistralai/Mistral-7B-Instruct-v0.3", "bartowski/Mistral-7B-Instruct-v0.3-GGUF"}),
        ),
    ),
    ModelSpec(
        id="qwen2.5-7b",
        name="Qwen2.5 7B",
        architecture=Architecture(
            family="qwen2", n_layers=28, hidden=3584, n_heads=28, n_kv_heads=4, head_dim=128,
            ffn=18944, vocab=152064, tied_embeddings=False, rope_theta=1000000.0,
            max_context=131072, rms_norm_eps=1e-6,
        ),
        license="Apache-2.0",
        params=7_615_616_512,
        config=f"Qwen/Qwen2.5-7B config.json, copy in {_MODEL_CONFIGS}",
        sources=Sources(
            hf="Qwen/Qwen2.5-7B-Instruct",
            gguf=_bartowski("Qwen2.5-7B-Instruct-GGUF", "Qwen2.5-7B-Instruct"),
            mlx=_mlx("Qwen2.5-7B-Instruct", ("bf16", "8bit", "6bit", "4bit", "3bit")),
            vllm={"awq-int4": "Qwen/Qwen2.5-7B-Instruct-AWQ", "gptq-int4": "Qwen/Qwen2.5-7B-Instruct-GPTQ-Int4",
                  "gptq-int8": "Qwen/Qwen2.5-7B-Instruct-GPTQ-Int8"},
            verified=frozenset({"Qwen/Qwen2.5-7B-Instruct", "mlx-community/Qwen2.5-7B-Instruct-4bit"}),
        ),
    ),
    ModelSpec(
        id="qwen2.5-14b",
        name="Qwen2.5 14B",
        architecture=_QWEN25_14B,
        license="Apache-2.0",
        params=14_770_033_664,
        config=f"Qwen/Qwen2.5-14B config.json, copy in {_MODEL_CONFIGS}",
        sources=Sources(
            hf="Qwen/Qwen2.5-14B-Instruct",
            gguf=_bartowski("Qwen2.5-14B-Instruct-GGUF", "Qwen2.5-14B-Instruct"),
            mlx=_mlx("Qwen2.5-14B-Instruct", ("bf16", "8bit", "6bit", "4bit", "3bit")),
            vllm={"awq-int4": "Qwen/Qwen2.5-14B-Instruct-AWQ", "gptq-int4": "Qwen/Qwen2.5-14B-Instruct-GPTQ-Int4",
                  "gptq-int8": "Qwen/Qwen2.5-14B-Instruct-GPTQ-Int8"},
            verified=frozenset({"Qwen/Qwen2.5-14B-Instruct-AWQ", "Qwen/Qwen2.5-14B-Instruct-GPTQ-Int4",
                                "Qwen/Qwen2.5-14B-Instruct-GPTQ-Int8"}),
        ),
    ),
    ModelSpec(
        id="qwen3-8b",
        name="Qwen3 8B",
        architecture=Architecture(
            family="qwen3", n_layers=36, hidden=4096, n_heads=32, n_kv_heads=8, head_dim=128,
            ffn=12288, vocab=151936, tied_embeddings=False, rope_theta=1000000.0,
            max_context=40960, rms_norm_eps=1e-6,
        ),
        license="Apache-2.0",
        params=8_190_735_360,
        config=f"Qwen/Qwen3-8B config.json, copy in {_MODEL_CONFIGS}",
        sources=Sources(
            hf="Qwen/Qwen3-8B",
            gguf=_bartowski("Qwen_Qwen3-8B-GGUF", "Qwen_Qwen3-8B"),
            mlx=_mlx("Qwen3-8B"),
            vllm={"fp8": "Qwen/Qwen3-8B-FP8", "awq-int4": "Qwen/Qwen3-8B-AWQ"},
            verified=frozenset({"Qwen/Qwen3-8B", "Qwen/Qwen3-8B-AWQ", "bartowski/Qwen_Qwen3-8B-GGUF"}),
        ),
    ),
    ModelSpec(
        id="qwen3-14b",
        name="Qwen3 14B",
        architecture=Architecture(
            family="qwen3", n_layers=40, hidden=5120, n_heads=40, n_kv_heads=8, head_dim=128,
            ffn=17408, vocab=151936, tied_embeddings=False, rope_theta=1000000.0,
            max_context=40960, rms_norm_eps=1e-6,
        ),
        license="Apache-2.0",
        params=14_768_307_200,
        config=f"Qwen/Qwen3-14B config.json, copy in {_MODEL_CONFIGS}",
        sources=Sources(
            hf="Qwen/Qwen3-14B",
            gguf=_bartowski("Qwen_Qwen3-14B-GGUF", "Qwen_Qwen3-14B"),
            mlx=_mlx("Qwen3-14B"),
            vllm={"fp8": "Qwen/Qwen3-14B-FP8", "awq-int4": "Qwen/Qwen3-14B-AWQ"},
        ),
    ),
    ModelSpec(
        id="gemma-2-9b",
        name="Gemma 2 9B",
        architecture=Architecture(
            family="gemma2", n_layers=42, hidden=3584, n_heads=16, n_kv_heads=8, head_dim=256,
            ffn=14336, vocab=256000, tied_embeddings=True, rope_theta=10000.0,
            max_context=8192, rms_norm_eps=1e-6, sliding_window=4096,
            attn_logit_softcap=50.0, final_logit_softcap=30.0,
        ),
        license="Gemma Terms of Use",
        params=9_241_705_984,
        notes="local (4096-token window) and global attention alternate; query_pre_attn_scalar 256",
        config="google/gemma-2-9b-it config.json, copy quoted in a public vLLM issue",
        sources=Sources(
            hf="google/gemma-2-9b-it",
            gguf=_bartowski("gemma-2-9b-it-GGUF", "gemma-2-9b-it"),
            mlx=_mlx("gemma-2-9b-it", ("8bit", "4bit")),
            vllm={"fp8": "neuralmagic/gemma-2-9b-it-FP8"},
            verified=frozenset({"google/gemma-2-9b-it", "bartowski/gemma-2-9b-it-GGUF"}),
        ),
    ),
    ModelSpec(
        id="phi-4",
        name="Phi-4 (14B)",
        architecture=Architecture(
            family="phi3", n_layers=40, hidden=5120, n_heads=40, n_kv_heads=10, head_dim=128,
            ffn=17920, vocab=100352, tied_embeddings=False, rope_theta=250000.0,
            max_context=16384, rms_norm_eps=1e-5,
        ),
        license="MIT",
        params=14_659_507_200,
        notes="Phi3ForCausalLM: fused qkv and gate_up projections",
        config="microsoft/phi-4 config.json, copy quoted in a public write-up",
        sources=Sources(
            hf="microsoft/phi-4",
            gguf=_bartowski("phi-4-GGUF", "phi-4"),
            mlx=_mlx("phi-4", ("bf16", "8bit", "6bit", "4bit", "3bit")),
            verified=frozenset({"microsoft/phi-4", "bartowski/phi-4-GGUF"}),
        ),
    ),
    ModelSpec(
        id="deepseek-r1-distill-qwen-14b",
        name="DeepSeek-R1-Distill-Qwen-14B",
        architecture=_QWEN25_14B,
        license="MIT (base model Qwen2.5-14B: Apache-2.0)",
        params=14_770_033_664,
        notes="Qwen2.5-14B fine-tuned on DeepSeek-R1 outputs: the same architecture",
        config="deepseek-ai/DeepSeek-R1-Distill-Qwen-14B: layers, hidden, KV heads, head_dim, context from a public "
               "copy of its config.json; the other values inherited from Qwen2.5-14B, not seen in a copy",
        sources=Sources(
            hf="deepseek-ai/DeepSeek-R1-Distill-Qwen-14B",
            gguf=_bartowski("DeepSeek-R1-Distill-Qwen-14B-GGUF", "DeepSeek-R1-Distill-Qwen-14B"),
            mlx=_mlx("DeepSeek-R1-Distill-Qwen-14B", ("8bit", "6bit", "4bit", "3bit")),
            verified=frozenset({"deepseek-ai/DeepSeek-R1-Distill-Qwen-14B",
                                "bartowski/DeepSeek-R1-Distill-Qwen-14B-GGUF"}),
        ),
    ),
    ModelSpec(
        id="tiny",
        name="Tiny llama (tests)",
        architecture=Architecture(
            family="llama", n_layers=2, hidden=256, n_heads=4, n_kv_heads=2, head_dim=64,
            ffn=768, vocab=32000, tied_embeddings=False, rope_theta=10000.0,
            max_context=16384, rms_norm_eps=1e-5,
        ),
        license="n/a (synthetic)",
        notes="a few MB; dims are multiples of 256 so every K-quant applies; a long context (16 MB of KV) "
              "so that pp512@d8192 and tg128@d8192 fit",
        listed=False,
    ),
]


def build_catalog(specs: Iterable[ModelSpec]) -> dict[str, ModelSpec]:
    """Index specs by id, refusing duplicates, impossible architectures, a parameter count that
    differs from the published one, and downloads for quants the ladder does not list."""
    from models.formats import FORMATS, LADDER

    out: dict[str, ModelSpec] = {}
    for spec in specs:
        where = f"catalog: model {spec.id!r}"
        if spec.id in out:
            raise ModelError(f"catalog: duplicate model id {spec.id!r}")
        problems = spec.architecture.problems()
        if problems:
            raise ModelError(f"{where} is inconsistent: {'; '.join(problems)}")
        if spec.params is not None and spec.architecture.param_count() != spec.params:
            raise ModelError(
                f"{where}: its architecture has {spec.architecture.param_count():,} parameters, "
                f"the published count is {spec.params:,}", "check the layer, head and FFN sizes"
            )
        for backend, table in (("llamacpp", spec.sources.gguf), ("mlx", spec.sources.mlx), ("vllm", spec.sources.vllm)):
            unknown = set(table) - {f.quant for f in LADDER if f.backend == backend}
            if unknown:
                raise ModelError(f"{where}: {backend} sources for quants not in the ladder: {sorted(unknown)}")
            for location in table.values():
                if location.count("/") < 1 or (FORMATS[backend].files == "gguf" and not location.endswith(".gguf")):
                    raise ModelError(f"{where}: bad {backend} source {location!r}", "expected org/repo[/file.gguf]")
        out[spec.id] = spec
    return out


CATALOG = build_catalog(_ENTRIES)


def get_model(model_id: str) -> ModelSpec:
    spec = CATALOG.get(model_id.strip().lower())
    if spec is None:
        raise ModelError(f"unknown model {model_id!r}", f"known: {', '.join(CATALOG)}")
    return spec
