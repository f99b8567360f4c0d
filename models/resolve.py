"""Turn what the user typed for --model / --quant into a checked file on disk.

- a catalog id ("qwen2.5-7b") is built synthetically (cached);
- "hub:<catalog id>" downloads the real GGUF through huggingface_hub (models/hub.py);
- a path is local: a .gguf file, checked before any engine sees it because llama.cpp's own errors
  for a bad file are cryptic or fatal, or an MLX / Hugging Face directory, read from its config.json.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from contract.errors import ModelError


@dataclass
class ResolvedModel:
    id: str
    name: str
    quant: str
    source: str                 # "synthetic", "local" or "hub"
    path: Path
    file_bytes: int
    fingerprint: str            # sha256 over size + first and last MiB: cheap, changes with the file
    architecture: dict
    weight_bytes_per_token: int          # weight bytes one decoded token reads (roofline)
    kv_bytes_per_token: int              # f16 K+V cache, llama.cpp's default cache type
    build_seconds: float | None = None   # set when the synthetic file was built by this run
    format: str = "gguf"                 # "gguf", or for a directory "mlx" / "hf"
    engine_options: dict = field(default_factory=dict)   # what the engine needs to run this build

    def to_dict(self) -> dict:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


def fingerprint(path: Path, chunk: int = 1 << 20) -> str:
    """For a file: its size and first and last MiB. For a directory: each weight file's name and
    fingerprint, so a changed shard changes it."""
    if path.is_dir():
        h = hashlib.sha256()
        for f in sorted(path.glob("*.safetensors")):
            h.update(f"{f.name}:{fingerprint(f, chunk)}".encode())
        return "sha256-dir:" + h.hexdigest()
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with path.open("rb") as fh:
        h.update(fh.read(chunk))
        if size > chunk:
            fh.seek(max(chunk, size - chunk))
            h.update(fh.read(chunk))
    return "sha256-edges:" + h.hexdigest()


HUB_PREFIX = "hub:"


def looks_like_path(model: str) -> bool:
    from models.catalog import CATALOG

    if model.endswith(".gguf") or "/" in model or model.startswith((".", "~")):
        return True
    # a bare name is a catalog id first, so a folder that happens to share an id's name is not picked
    return model.strip().lower() not in CATALOG and Path(model).exists()


def resolve_model(model: str, quant: str, cache_dir: Path | None, ui, backend: str = "llamacpp") -> ResolvedModel:
    if model.startswith(HUB_PREFIX):
        return _from_hub(model[len(HUB_PREFIX):], quant, ui)
    if looks_like_path(model):
        path = Path(model).expanduser()
        return _from_dir(path) if path.is_dir() else _from_gguf(path, source="local")

    from models.catalog import get_model
    from models.plan import weight_bytes_per_token
    from models.synthetic import cache_path, materialize

    spec = get_model(model)                     # raises ModelError naming the known ids
    if backend != "llamacpp":
        return _synthetic_for_engine(spec, quant, cache_dir, ui, backend)
    q = _one_quant(quant)
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


def _synthetic_for_engine(spec, quant: str, cache_dir: Path | None, ui, backend: str) -> ResolvedModel:
    """A catalog model built in the format another engine runs: an HF checkpoint or an MLX dir."""
    from models.synthetic_engines import materialize_for

    t0 = time.perf_counter()
    with ui.task(f"building synthetic {spec.id} {quant} for {backend}", None) as advance:
        path, options = materialize_for(backend, spec, quant, cache_dir, progress=_byte_progress(advance))
    resolved = _from_dir(path)
    resolved.id, resolved.name, resolved.source = spec.id, spec.name, "synthetic"
    resolved.quant, resolved.engine_options = quant, options
    resolved.build_seconds = time.perf_counter() - t0
    return resolved


def _one_quant(quant: str):
    from models.quant import parse_quants

    quants = parse_quants(quant)                # raises ModelError naming the valid types
    if len(quants) != 1:
        raise ModelError(f"one quant per run, got {quant!r}", "pass a single --quant such as Q4_K_M")
    return quants[0]


def _from_gguf(path: Path, source: str, model_id: str | None = None) -> ResolvedModel:
    from models.gguf_file import inspect_gguf

    summary = inspect_gguf(path)                # raises ModelError: missing, not GGUF, truncated, corrupt
    arch = summary.architecture()
    return ResolvedModel(
        id=model_id or path.stem, name=str(summary.metadata.get("general.name") or path.stem),
        quant=_quant_name(summary.metadata.get("general.file_type")), source=source,
        path=path.resolve(), file_bytes=summary.file_size, fingerprint=fingerprint(path),
        architecture=asdict(arch), weight_bytes_per_token=_weight_bytes_per_token(summary),
        kv_bytes_per_token=arch.kv_bytes_per_token(),
    )


def _from_dir(path: Path) -> ResolvedModel:
    from models.formats import Format, local_format, weight_bytes
    from models.hf_config import read_model_dir

    d = read_model_dir(path)                    # raises ModelError: no config.json, no weights, unknown model_type
    backend = local_format(d.format).name
    # bytes per token from the layout and the format's storage rule, scaled to the real files
    estimate = weight_bytes(d.architecture, Format(backend, d.quant))
    per_token = round(d.weight_bytes * estimate.bytes_per_token / estimate.file_bytes)
    return ResolvedModel(
        id=path.name, name=d.name, quant=d.quant, source="local", path=path.resolve(),
        file_bytes=d.weight_bytes, fingerprint=fingerprint(path), architecture=asdict(d.architecture),
        weight_bytes_per_token=per_token, kv_bytes_per_token=d.architecture.kv_bytes_per_token(),
        format=d.format,
    )


def _from_hub(model_id: str, quant: str, ui) -> ResolvedModel:
    from models.catalog import get_model
    from models.hub import download

    spec = get_model(model_id)
    q = _one_quant(quant)
    ui.info(f"fetching {spec.id} {q.name} from the Hugging Face hub")
    return _from_gguf(download(spec, "llamacpp", q.name), source="hub", model_id=spec.id)


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
