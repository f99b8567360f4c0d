"""The quantization ladder per backend, and what each rung costs in bytes.

GGUF sizes are exact: the same tensor plan (models/plan.py) the synthetic builder writes, checked
against llama.cpp's own quantizer and against published file sizes. The other formats are
computed from the same tensor list with each format's storage rule (below); they are layout
estimates, labelled as such, until the engines that use them (a later issue) can check them.

Kept free of heavy imports: the CLI lists the ladder before any engine is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.errors import ModelError
from models.architecture import Architecture
from models.tensors import TensorDef, tensor_layout


@dataclass(frozen=True)
class Format:
    backend: str  # llamacpp | mlx | vllm | torch
    quant: str  # as the user types it for that backend
    kv_bytes_per_element: int = 2  # the KV cache is kept in the activation dtype


LADDER: tuple[Format, ...] = tuple(
    [Format("llamacpp", q) for q in ("F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K", "IQ4_XS")]
    + [Format("mlx", q) for q in ("bf16", "8bit", "6bit", "4bit", "3bit")]
    + [Format("vllm", q) for q in ("bf16", "fp8", "awq-int4", "gptq-int4", "gptq-int8")]
    + [Format("torch", "fp32", 4), Format("torch", "bf16"), Format("torch", "fp16")]
)
BACKENDS = ("llamacpp", "mlx", "vllm", "torch")


def check_backend(name: str) -> str:
    backend = name.strip().lower()
    if backend not in BACKENDS:
        raise ModelError(f"unknown backend {name!r}", f"valid: {', '.join(BACKENDS)}")
    return backend


def get_format(backend: str, quant: str) -> Format:
    """The ladder rung for (backend, quant); GGUF quants beyond the ladder (Q4_0, Q5_K_S...) too."""
    backend = check_backend(backend)
    if backend == "llamacpp":
        from models.quant import get_quant

        return Format("llamacpp", get_quant(quant).name)
    for f in LADDER:
        if f.backend == backend and f.quant == quant.strip().lower():
            return f
    valid = ", ".join(f.quant for f in LADDER if f.backend == backend)
    raise ModelError(f"unknown {backend} quantization {quant!r}", f"valid: {valid}")


@dataclass(frozen=True)
class WeightBytes:
    file_bytes: int  # size on disk
    bytes_per_token: int  # weight bytes one decoded token reads
    exact: bool  # False: computed from the layout with the format's storage rule


# Storage rules for the non-GGUF formats, per linear-layer weight of `rows` x `cols` (cols = input
# features). Group-quantized formats add per-group scales (and zeros/biases) to the packed bits.
_MLX_GROUP = 64  # mlx_lm default: scale and bias per 64 weights, in the model's bf16
_GPTQ_GROUP = _AWQ_GROUP = 128


def _linear_bytes(fmt: Format, rows: int, cols: int) -> int:
    n = rows * cols
    q = fmt.quant
    if fmt.backend == "mlx" and q != "bf16":
        bits = int(q.removesuffix("bit"))
        return n * bits // 8 + (n // _MLX_GROUP) * 2 * 2
    if q == "fp8":  # e4m3 weights, one fp32 scale per output row
        return n + rows * 4
    if q == "awq-int4":  # packed int4, fp16 scales and packed int4 zero points per group of 128 inputs
        groups = cols // _AWQ_GROUP * rows
        return n // 2 + groups * 2 + groups // 2
    if q in ("gptq-int4", "gptq-int8"):  # as AWQ, plus GPTQ's int32 g_idx per input feature
        bits = 4 if q == "gptq-int4" else 8
        groups = cols // _GPTQ_GROUP * rows
        return n * bits // 8 + groups * 2 + groups * bits // 8 + cols * 4
    return n * (4 if q == "fp32" else 2)


def _quantized_here(fmt: Format, t: TensorDef) -> bool:
    """Which tensors the format quantizes. MLX: every Linear and Embedding whose rows split into
    groups (mlx_lm's default predicate). AWQ/GPTQ/FP8 checkpoints: the decoder layers' linear
    weights only; embeddings and the LM head stay in 16 bits."""
    if not t.is_matrix or fmt.quant in ("bf16", "fp16", "fp32"):
        return False
    if fmt.backend == "mlx":
        return t.row_len % _MLX_GROUP == 0
    return t.name.startswith("blk.")


def _tensor_bytes(fmt: Format, t: TensorDef) -> int:
    if _quantized_here(fmt, t):
        return _linear_bytes(fmt, t.n_rows, t.row_len)
    return t.n_elements * (4 if fmt.quant == "fp32" else 2)


def weight_bytes(arch: Architecture, fmt: Format, name: str = "") -> WeightBytes:
    """Size on disk and weight bytes read per decoded token for one rung of the ladder. For GGUF,
    the size of the synthetic file for a model called `name` (whose header holds the name)."""
    if fmt.backend == "llamacpp":
        from models.plan import weight_bytes_per_token
        from models.quant import get_quant
        from models.synthetic import file_size

        quant = get_quant(fmt.quant)
        return WeightBytes(file_size(name, arch, quant), weight_bytes_per_token(arch, quant), exact=True)
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
