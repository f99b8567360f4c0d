"""Turn what the user typed for --model / --quant into a checked file on disk.

A catalog id is built synthetically (cached); a path to a .gguf is checked before any engine
sees it, because llama.cpp's own errors for a bad file are cryptic or fatal.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.errors import ModelError


@dataclass
class ResolvedModel:
    id: str
    name: str
    quant: str
    source: str                 # "synthetic" or "local"
    path: Path
    file_bytes: int
    fingerprint: str            # sha256 over size + first and last MiB: cheap, changes with the file
    architecture: dict
    weight_bytes_per_token: int          # weight bytes one decoded token reads (roofline)
    kv_bytes_per_token: int              # f16 K+V cache, llama.cpp's default cache type
    build_seconds: float | None = None   # set when the synthetic file was built by this run

    def to_dict(self) -> dict:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


def fingerprint(path: Path, chunk: int = 1 << 20) -> str:
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with path.open("rb") as fh:
        h.update(fh.read(chunk))
        if size > chunk:
            fh.seek(max(chunk, size - chunk))
            h.update(fh.read(chunk))
    return "sha256-edges:" + h.hexdigest()


def _looks_like_path(model: str) -> bool:
    return model.endswith(".gguf") or "/" in model or model.startswith(".")


def resolve_model(model: str, quant: str, cache_dir: Path | None, ui) -> ResolvedModel:
    from models.gguf_file import inspect_gguf
    from models.quant import parse_quants

    if _looks_like_path(model):
        path = Path(model).expanduser()
        summary = inspect_gguf(path)            # raises ModelError: missing, not GGUF, truncated, corrupt
        arch = summary.architecture()
        return ResolvedModel(
            id=path.stem, name=str(summary.metadata.get("general.name") or path.stem),
            quant=_quant_name(summary.metadata.get("general.file_type")), source="local",
            path=path.resolve(), file_bytes=summary.file_size, fingerprint=fingerprint(path),
            architecture=asdict(arch), weight_bytes_per_token=_weight_bytes_per_token(summary),
            kv_bytes_per_token=arch.kv_bytes_per_token(),
        )

    from models.catalog import get_model
    from models.plan import weight_bytes_per_token
    from models.synthetic import cache_path, materialize

    spec = get_model(model)                     # raises ModelError naming the known ids
    quants = parse_quants(quant)                # raises ModelError naming the valid types
    if len(quants) != 1:
        raise ModelError(f"one quant per run, got {quant!r}", "pass a single --quant such as Q4_K_M")
    q = quants[0]
    build_seconds = None
    if cache_path(spec, q, cache_dir).exists():
        path = materialize(spec, q, cache_dir=cache_dir)   # checks the cached file, rebuilds if damaged
    else:
        t0 = time.perf_counter()
        with ui.task(f"building synthetic {spec.id} {q.name}", None) as advance:
            path = materialize(spec, q, cache_dir=cache_dir, progress=_byte_progress(advance))
        build_seconds = time.perf_counter() - t0
        ui.info(f"built {path} in {build_seconds:.1f} s")
    return ResolvedModel(
        id=spec.id, name=spec.name, quant=q.name, source="synthetic", path=path,
        file_bytes=path.stat().st_size, fingerprint=fingerprint(path),
        architecture=asdict(spec.architecture), weight_bytes_per_token=weight_bytes_per_token(spec.architecture, q),
        kv_bytes_per_token=spec.architecture.kv_bytes_per_token(), build_seconds=build_seconds,
    )


def _weight_bytes_per_token(summary) -> int:
    """As models.plan.weight_bytes_per_token, from a file's own tensor list: all tensor bytes,
    except that an untied embedding table is read one row per token."""
    names = {t.name for t in summary.tensors}
    total = 0
    for t in summary.tensors:
        if t.name == "token_embd.weight" and "output.weight" in names:
            total += t.nbytes // t.shape[1]
        else:
            total += t.nbytes
    return total


def _quant_name(file_type) -> str:
    from models.quant import QUANTS
    for q in QUANTS.values():
        if q.ftype == file_type:
            return q.name
    return "unknown" if file_type is None else f"ftype {file_type}"


def _byte_progress(advance):
    """Adapt materialize's (done_bytes, total_bytes) callback to a progress bar's advance(n, total)."""
    state = {"done": 0}

    def progress(done: int, total: int) -> None:
        advance(done - state["done"], total)
        state["done"] = done
    return progress
