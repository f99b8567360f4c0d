"""The GGUF quantization levels users run, as llama.cpp names and numbers them.

Kept free of heavy imports: the CLI parses --quant before any engine is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.errors import ModelError


@dataclass(frozen=True)
class QuantType:
    name: str  # llama-quantize's name, e.g. "Q4_K_M"
    ftype: int  # llama.h enum llama_ftype (LLAMA_FTYPE_MOSTLY_*)
    default_type: str  # ggml type of the bulk of the weights (llama_ftype_get_default_type)


QUANTS: dict[str, QuantType] = {
    q.name: q
    for q in (
        QuantType("F16", 1, "F16"),
        QuantType("Q8_0", 7, "Q8_0"),
        QuantType("Q6_K", 18, "Q6_K"),
        QuantType("Q5_K_M", 17, "Q5_K"),
        QuantType("Q5_K_S", 16, "Q5_K"),
        QuantType("Q4_K_M", 15, "Q4_K"),
        QuantType("Q4_K_S", 14, "Q4_K"),
        QuantType("Q4_0", 2, "Q4_0"),
        QuantType("IQ4_XS", 30, "IQ4_XS"),
        QuantType("IQ4_NL", 25, "IQ4_NL"),
        QuantType("Q3_K_L", 13, "Q3_K"),
        QuantType("Q3_K_M", 12, "Q3_K"),
        QuantType("Q3_K_S", 11, "Q3_K"),
        QuantType("Q2_K", 10, "Q2_K"),
    )
}


def get_quant(name: str) -> QuantType:
    quant = QUANTS.get(name.strip().upper())
    if quant is None:
        raise ModelError(f"unknown quantization type {name!r}", f"valid: {', '.join(QUANTS)}")
    return quant


def parse_quants(text: str) -> list[QuantType]:
    """'q8_0, Q4_K_M' -> [Q8_0, Q4_K_M]; order kept, duplicates dropped."""
    names = [part for part in (p.strip() for p in text.split(",")) if part]
    if not names:
        raise ModelError("no quantization type given", f"valid: {', '.join(QUANTS)}")
    out: list[QuantType] = []
    for name in names:
        quant = get_quant(name)
        if quant not in out:
            out.append(quant)
    return out
