"""Download a catalog model's real weights through huggingface_hub, into the standard HF cache.

Offline (no network, or HF_HUB_OFFLINE=1) and not cached yet, it fails with one line naming the
repo and how to pass a local copy instead. huggingface_hub is imported only here, only when asked.
"""

from __future__ import annotations

from pathlib import Path

from contract.errors import ModelError
from models.spec import ModelSpec


def location(spec: ModelSpec, backend: str, quant: str) -> str:
    """"repo" or "repo/file.gguf" for the real weights of one ladder rung."""
    where = spec.sources.get(backend, quant)
    if where is None:
        published = sorted(q for q in (spec.sources.gguf if backend == "llamacpp" else spec.sources.mlx
                                       if backend == "mlx" else spec.sources.vllm))
        raise ModelError(f"no known {backend} download of {spec.id} at {quant}",
                         f"published: {', '.join(published) or 'none'}; or use --source synthetic")
    return where


def download(spec: ModelSpec, backend: str, quant: str) -> Path:
    """Local path of the downloaded file (GGUF) or snapshot directory (every other format)."""
    where = location(spec, backend, quant)
    parts = where.split("/")
    repo, filename = "/".join(parts[:2]), "/".join(parts[2:]) or None
    local_hint = f"download it elsewhere and pass its path: --model /path/to/{filename or parts[1]}"
    try:
        import huggingface_hub
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled
    except ImportError:
        raise ModelError(f"downloading {repo} needs huggingface_hub",
                         f"pip install huggingface_hub, or {local_hint}") from None
    try:
        if filename:
            return Path(huggingface_hub.hf_hub_download(repo_id=repo, filename=filename))
        return Path(huggingface_hub.snapshot_download(repo_id=repo))
    except (LocalEntryNotFoundError, OfflineModeIsEnabled, OSError) as e:
        # offline, or the network is unreachable: not in the HF cache and no way to fetch it
        raise ModelError(f"cannot download {where} from the Hugging Face hub (offline: {type(e).__name__})",
                         local_hint) from None
    except HfHubHTTPError as e:
        status = getattr(e.response, "status_code", None)
        gated = "gated: accept its licence on huggingface.co and log in"
        why = "no HTTP status" if status is None else {401: gated, 403: gated, 404: "not found" + (
            "" if spec.sources.is_verified(where) else "; this repo name is unverified")}.get(status, f"HTTP {status}")
        raise ModelError(f"cannot download {where} from the Hugging Face hub ({why})", local_hint) from None
