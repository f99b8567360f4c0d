"""The model formats the suite builds, sizes and fits (FORMATS), their quantization ladders, and
what each rung costs in bytes.

A format is named by the engine that defined it (llamacpp: GGUF files; mlx: MLX directories; vllm
and torch: Hugging Face checkpoints, each with its own ladder); every other engine that runs it
names it (engines: its class's `model_format`). A ModelFormat says what its models are on disk,
its ladder and default quant, and its storage rule; models/fit.py holds its memory overhead rule
and models/synthetic_engines.py its synthetic build.

GGUF sizes are exact: the same tensor plan (models/plan.py) the synthetic builder writes, checked
against llama.cpp's own quantizer and against published file sizes. The other formats are
computed from the same tensor list with each format's storage rule (below); they are layout
estimates, labelled as such, until the engines that use them (a later issue) can check them.

Kept free of heavy imports: the CLI lists the ladder before any engine is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from contract.errors import ModelError
from models.architecture import Architecture
from models.overhead import Sizing, llamacpp_overhead, mlx_overhead, torch_overhead, vllm_overhead
from models.tensors import TensorDef, tensor_layout


@dataclass(frozen=True)
class Format:
    backend: str  # the format's name (FORMATS): llamacpp | mlx | vllm | torch
    quant: str  # as the user types it for that format
    kv_bytes_per_element: int = 2  # the KV cache is kept in the activation dtype


@dataclass(frozen=True)
class WeightBytes:
    file_bytes: int  # size on disk
    bytes_per_token: int  # weight bytes one decoded token reads
    exact: bool  # False: computed from the layout with the format's storage rule


# Storage rules per linear-layer weight of `rows` x `cols` (cols = input features). Group-quantized
# formats add per-group scales (and zeros/biases) to the packed bits.
_MLX_GROUP = 64  # mlx_lm default: scale and bias per 64 weights, in the model's bf16
_GPTQ_GROUP = _AWQ_GROUP = 128


def _dense_bytes(quant: str, n: int) -> int:
    return n * (4 if quant == "fp32" else 2)


def _mlx_linear(q: str, rows: int, cols: int) -> int:
    n = rows * cols
    if q == "bf16":
        return _dense_bytes(q, n)
    bits = int(q.removesuffix("bit"))
    return n * bits // 8 + (n // _MLX_GROUP) * 2 * 2


def _hf_linear(q: str, rows: int, cols: int) -> int:
    n = rows * cols
    if q == "fp8":  # e4m3 weights, one fp32 scale per output row
        return n + rows * 4
    if q == "awq-int4":  # packed int4, fp16 scales and packed int4 zero points per group of 128 inputs
        groups = cols // _AWQ_GROUP * rows
        return n // 2 + groups * 2 + groups // 2
    if q in ("gptq-int4", "gptq-int8"):  # as AWQ, plus GPTQ's int32 g_idx per input feature
        bits = 4 if q == "gptq-int4" else 8
        groups = cols // _GPTQ_GROUP * rows
        return n * bits // 8 + groups * 2 + groups * bits // 8 + cols * 4
    return _dense_bytes(q, n)


def _mlx_quantizes(t: TensorDef) -> bool:
    """mlx_lm's default predicate: every Linear and Embedding whose rows split into groups."""
    return t.row_len % _MLX_GROUP == 0


def _decoder_linears(t: TensorDef) -> bool:
    """AWQ/GPTQ/FP8 checkpoints: the decoder layers' linear weights; embeddings and the LM head stay
    in 16 bits."""
    return t.name.startswith("blk.")


def _gguf_quant(quant: str) -> str:
    from models.quant import get_quant

    return get_quant(quant).name


def _gguf_weight_bytes(arch: Architecture, fmt: Format, name: str) -> WeightBytes:
    """Exact: the size of the synthetic file for a model called `name` (whose header holds the name)."""
    from models.plan import weight_bytes_per_token
    from models.quant import get_quant
    from models.synthetic import file_size

    quant = get_quant(fmt.quant)
    return WeightBytes(file_size(name, arch, quant), weight_bytes_per_token(arch, quant), exact=True)


Build = Callable[..., tuple[Path, dict]]   # (spec, quant, cache_dir, progress) -> (model path, engine options)


def _build_gguf(spec, quant: str, cache_dir: Path | None, progress=None) -> tuple[Path, dict]:
    from models.synthetic import materialize

    return materialize(spec, quant, cache_dir=cache_dir, progress=progress), {}


def _build_mlx(spec, quant: str, cache_dir: Path | None, progress=None) -> tuple[Path, dict]:
    from models.synthetic_mlx import materialize_mlx

    return materialize_mlx(spec, quant, cache_dir=cache_dir), {}


def _build_torch(spec, quant: str, cache_dir: Path | None, progress=None) -> tuple[Path, dict]:
    from models.synthetic_hf import materialize_hf

    return materialize_hf(spec, quant, cache_dir=cache_dir, progress=progress), {"dtype": quant}


def _build_vllm(spec, quant: str, cache_dir: Path | None, progress=None) -> tuple[Path, dict]:
    """vLLM's fp8 is its online quantization of the bf16 checkpoint at load: the same weight bytes
    per token as an FP8 checkpoint. AWQ and GPTQ checkpoints are not built synthetically."""
    from models.synthetic_hf import materialize_hf

    if quant not in ("bf16", "fp8"):
        raise ModelError(f"no synthetic {quant} checkpoint for vLLM",
                         "pass a local AWQ/GPTQ checkpoint directory, or use --quant bf16 or fp8")
    return materialize_hf(spec, "bf16", cache_dir=cache_dir, progress=progress), {"quant": quant}


@dataclass(frozen=True)
class ModelFormat:
    """One model format: how its models are stored, which quant levels it has and what they cost."""
    name: str                       # the key engines name it by
    files: str                      # what one of its models is on disk: a "gguf" file, an "mlx" or "hf" directory
    quants: tuple[str, ...]         # its ladder, as the user types each rung
    default_quant: str              # bench run's --quant when none is given
    overhead: Callable[[Sizing], int]   # what its engine needs beyond weights and KV cache (models/overhead.py)
    build: Build                    # the synthetic build a catalog model gets in it (models/synthetic_engines.py)
    # storage rule for a weight it quantizes: (quant, rows, cols) -> bytes; and which weights it quantizes
    linear_bytes: Callable[[str, int, int], int] = _hf_linear
    quantizes: Callable[[TensorDef], bool] = _decoder_linears
    # exact sizes where the suite builds the files itself (GGUF); else the layout with the storage rule
    exact_bytes: Callable[[Architecture, Format, str], WeightBytes] | None = None
    # quant names beyond the ladder it takes (GGUF's Q4_0, Q5_K_S, ...): the canonical name, or ModelError
    parse_quant: Callable[[str], str] | None = None
    sizes_local_dirs: bool = False  # its rule sizes a local directory of its `files` kind (resolve)

    def rungs(self) -> tuple[Format, ...]:
        return tuple(Format(self.name, q, 4 if q == "fp32" else 2) for q in self.quants)


FORMATS: dict[str, ModelFormat] = {f.name: f for f in (
    ModelFormat("llamacpp", "gguf", ("F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K", "IQ4_XS"),
                "Q4_K_M", llamacpp_overhead, _build_gguf, exact_bytes=_gguf_weight_bytes, parse_quant=_gguf_quant),
    ModelFormat("mlx", "mlx", ("bf16", "8bit", "6bit", "4bit", "3bit"), "4bit", mlx_overhead, _build_mlx,
                _mlx_linear, _mlx_quantizes, sizes_local_dirs=True),
    ModelFormat("vllm", "hf", ("bf16", "fp8", "awq-int4", "gptq-int4", "gptq-int8"), "bf16", vllm_overhead,
                _build_vllm),
    ModelFormat("torch", "hf", ("fp32", "bf16", "fp16"), "bf16", torch_overhead, _build_torch,
                sizes_local_dirs=True),
)}

LADDER: tuple[Format, ...] = tuple(r for f in FORMATS.values() for r in f.rungs())
BACKENDS = tuple(FORMATS)


def check_backend(name: str) -> str:
    backend = name.strip().lower()
    if backend not in FORMATS:
        raise ModelError(f"unknown backend {name!r}", f"valid: {', '.join(FORMATS)}")
    return backend


def local_format(files: str) -> ModelFormat:
    """The format whose storage rule sizes a local directory of this kind ("mlx", "hf")."""
    return next(f for f in FORMATS.values() if f.files == files and f.sizes_local_dirs)


def get_format(backend: str, quant: str) -> Format:
    """The ladder rung for (format, quant); GGUF quants beyond the ladder (Q4_0, Q5_K_S...) too."""
    model_format = FORMATS[check_backend(backend)]
    if model_format.parse_quant is not None:
        return Format(model_format.name, model_format.parse_quant(quant))
    for f in model_format.rungs():
        if f.quant == quant.strip().lower():
            return f
    raise ModelError(f"unknown {model_format.name} quantization {quant!r}", f"valid: {', '.join(model_format.quants)}")


def _tensor_bytes(fmt: Format, t: TensorDef) -> int:
    model_format = FORMATS[fmt.backend]
    if t.is_matrix and fmt.quant not in ("bf16", "fp16", "fp32") and model_format.quantizes(t):
        return model_format.linear_bytes(fmt.quant, t.n_rows, t.row_len)
    return _dense_bytes(fmt.quant, t.n_elements)


def weight_bytes(arch: Architecture, fmt: Format, name: str = "") -> WeightBytes:
    """Size on disk and weight bytes read per decoded token for one rung of the ladder. For GGUF,
    the size of the synthetic file for a model called `name` (whose header holds the name)."""
    exact = FORMATS[fmt.backend].exact_bytes
    if exact is not None:
        return exact(arch, fmt, name)
    total = per_token = 0
    for t in tensor_layout(arch):
        if not t.learned:  # rope_freqs is a GGUF artefact; other formats compute it
            continue
        nbytes = _tensor_bytes(fmt, t)
        total += nbytes
        # an untied embedding table is read one row per token
        per_token += nbytes // t.n_rows if t.name == "token_embd.weight" and not arch.tied_embeddings else nbytes
    return WeightBytes(total, per_token, exact=False)


def kv_bytes_per_token(arch: Architecture, fmt: Format) -> int:
    return arch.kv_bytes_per_token(fmt.kv_bytes_per_element)
