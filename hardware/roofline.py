"""Decode roofline: single-stream decode reads every weight plus the KV cache so far once
per token, so tokens/s <= bandwidth / bytes read per token."""

from __future__ import annotations

from contract.result import Roofline


def bytes_per_token(weight_bytes: int, kv_bytes_per_token: int = 0, context_tokens: int = 0) -> int:
    """Bytes read to generate one token at a given context length (batch 1)."""
    return weight_bytes + kv_bytes_per_token * context_tokens


def decode_ceiling(bytes_per_token: float, bandwidth_gbps: float | None) -> float | None:
    """Highest tokens/s memory bandwidth allows; None when the bandwidth is unknown."""
    if bandwidth_gbps is None or bandwidth_gbps <= 0 or bytes_per_token <= 0:
        return None
    return bandwidth_gbps * 1e9 / bytes_per_token


def bandwidth_efficiency(measured_tps: float | None, bytes_per_token: float,
                         spec_gbps: float | None = None, measured_gbps: float | None = None,
                         **extra: float) -> Roofline:
    """Measured decode tokens/s against the ceiling from spec and from measured bandwidth (the
    contract's Roofline; `extra`: its other fields, e.g. mean_context_tokens)."""
    spec_ceiling = decode_ceiling(bytes_per_token, spec_gbps)
    meas_ceiling = decode_ceiling(bytes_per_token, measured_gbps)

    def ratio(ceiling: float | None) -> float | None:
        return measured_tps / ceiling if measured_tps is not None and ceiling else None

    return Roofline(bytes_per_token=bytes_per_token, measured_tps=measured_tps, spec_bandwidth_gbps=spec_gbps,
                    measured_bandwidth_gbps=measured_gbps, ceiling_tps_spec=spec_ceiling,
                    ceiling_tps_measured=meas_ceiling, efficiency_spec=ratio(spec_ceiling),
                    efficiency_measured=ratio(meas_ceiling), **extra)
