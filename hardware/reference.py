"""The reference set: published llama-bench and serving measurements (hardware/reference.json),
and the user's own results joining them.

Checked when loaded, like the model catalog: every row names a known machine, a catalog model and
a quant the engine has, a file size within 1% of the catalog's exact size for that model and
quant (so the bytes the projection divides by are the bytes that were measured), positive figures,
a source and a date. A bad row stops with one line naming it.

Result documents are read in one place, `rows_from_result`, so that a typed result model can
replace the dict access later without touching the fit.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path

from contract.errors import BenchError
from hardware.machines import Machine, machine_from_hardware, machines

BACKEND_PLATFORM = {"CUDA": "cuda", "ROCm": "rocm", "Metal": "metal", "CPU": "cpu", "Vulkan": "vulkan"}
ENGINE_FORMAT = {"llama.cpp": "llamacpp", "vllm": "vllm"}
TG128_CONTEXT = 64            # a tg128 run decodes from 1 to 129 tokens of context: 64 on average
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


class ReferenceError(BenchError):
    """A reference row that cannot be used."""


@dataclass(frozen=True)
class ReferenceRow:
    id: str
    machine: str                  # machine id (hardware/specs.json, or a measured machine's own id)
    backend: str                  # CUDA, ROCm, Metal, Vulkan, CPU
    engine: str                   # llama.cpp, vllm
    model: str                    # catalog id
    quant: str
    file_bytes: int
    flags: str
    build: str
    source: str
    date: str
    date_is: str = "published"
    pp512: float | None = None    # llama-bench tokens/s
    tg128: float | None = None
    pp_tokens: int = 512          # the prompt length of the pp figure (a user's run may use another)
    tg_context: float = TG128_CONTEXT
    threads: int | None = None    # CPU: threads the prefill ran with (the compute it had)
    tg_threads: int | None = None
    concurrency: int | None = None  # serving rows: sequences decoding together ...
    output_tps: float | None = None  # ... and their aggregate output tokens/s
    context: int | None = None    # ... at this many tokens each, where the source says
    note: str | None = None
    measured: bool = False        # True: the user's own result, not a published row

    @property
    def platform(self) -> str:
        return BACKEND_PLATFORM[self.backend]

    @property
    def fmt_backend(self) -> str:
        return ENGINE_FORMAT[self.engine]

    def to_dict(self) -> dict:
        return asdict(self)


def _check(row: ReferenceRow, where: str, known: dict[str, Machine]) -> None:
    from models.catalog import CATALOG
    from models.formats import get_format, weight_bytes

    if row.machine not in known:
        raise ReferenceError(f"{where}: unknown machine {row.machine!r}", "add it to hardware/specs.json machines")
    if row.backend not in BACKEND_PLATFORM:
        raise ReferenceError(f"{where}: backend {row.backend!r} is not one of {', '.join(BACKEND_PLATFORM)}")
    if row.engine not in ENGINE_FORMAT:
        raise ReferenceError(f"{where}: engine {row.engine!r} is not one of {', '.join(ENGINE_FORMAT)}")
    spec = CATALOG.get(row.model)
    if spec is None:
        raise ReferenceError(f"{where}: model {row.model!r} is not in the catalog", "use a catalog id (bench models)")
    exact = weight_bytes(spec.architecture, get_format(row.fmt_backend, row.quant), spec.name).file_bytes
    if abs(row.file_bytes / exact - 1) > 0.01:
        raise ReferenceError(f"{where}: file size {row.file_bytes:,} B is not the catalog's {exact:,} B for "
                             f"{row.model} {row.quant} (within 1%)", "check the model, the quant and the size")
    figures = {"pp512": row.pp512, "tg128": row.tg128, "output_tps": row.output_tps}
    for name, v in figures.items():
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0):
            raise ReferenceError(f"{where}: {name} must be a positive number of tokens/s, got {v!r}", f"fix {name}")
    if row.output_tps is not None and not (isinstance(row.concurrency, int) and row.concurrency >= 1):
        raise ReferenceError(f"{where}: a serving figure needs the concurrency it was measured at", "add concurrency")
    if all(v is None for v in figures.values()):
        raise ReferenceError(f"{where}: no figure (pp512, tg128 or output_tps)", "add the measured figure")
    if not row.source.strip() or not _DATE.match(row.date or ""):
        raise ReferenceError(f"{where}: needs a source and a date (YYYY-MM-DD, YYYY-MM or YYYY)", "add them")


def build_reference(raw_rows: list[dict], known: dict[str, Machine]) -> list[ReferenceRow]:
    out, seen = [], set()
    fields = set(ReferenceRow.__dataclass_fields__) - {"measured"}
    for i, raw in enumerate(raw_rows):
        where = f"hardware/reference.json row {raw.get('id') or i + 1}"
        if set(raw) - fields:
            raise ReferenceError(f"{where}: unknown field(s) {sorted(set(raw) - fields)}", "fix the row")
        try:
            row = ReferenceRow(**raw)
        except TypeError as exc:
            raise ReferenceError(f"{where}: {exc}", "every row needs id, machine, backend, engine, model, quant, "
                                                    "file_bytes, flags, build, source, date") from None
        if row.id in seen:
            raise ReferenceError(f"hardware/reference.json: duplicate row id {row.id!r}")
        seen.add(row.id)
        _check(row, where, known)
        out.append(row)
    return out


@lru_cache(maxsize=1)
def reference_rows() -> tuple[ReferenceRow, ...]:
    doc = json.loads(Path(__file__).with_name("reference.json").read_text(encoding="utf-8"))
    return tuple(build_reference(doc["rows"], machines()))


def _ok(sc: dict) -> bool:
    return sc.get("status") == "completed" and (sc.get("validity") or {}).get("verdict") == "VALID"


def rows_from_result(doc: dict, path: Path | str) -> tuple[Machine, list[ReferenceRow], list[str]]:
    """A measured result as (its machine, rows that join the reference set, why anything was left
    out). Its valid pp<N> and tg<N> scenarios become one row. Only llama.cpp results of a catalog
    model join: the projection is fit on llama.cpp figures."""
    name = Path(path).name
    model, backend, hw = doc.get("model") or {}, doc.get("backend") or {}, doc.get("hardware") or {}
    config = doc.get("config") or {}
    skipped: list[str] = []
    if config.get("backend") != "llamacpp":
        raise ReferenceError(f"{name}: a {config.get('backend')} result; projections are fit on llama.cpp results",
                             "pass a result of bench run --backend llamacpp")
    if not hw:
        raise ReferenceError(f"{name}: the result has no hardware section", "pass a result written by bench run")
    tg = next((sc for sc in doc.get("scenarios") or [] if sc.get("kind") == "tg" and _ok(sc)), None)
    pp = next((sc for sc in doc.get("scenarios") or [] if sc.get("kind") == "pp" and _ok(sc)), None)
    for kind, sc in (("tg", tg), ("pp", pp)):
        if sc is None:
            skipped.append(f"{name}: no valid {kind}<N> scenario, so no {kind} figure joins the fit")
    if tg is None and pp is None:
        raise ReferenceError(f"{name}: no valid pp<N> or tg<N> scenario to calibrate on",
                             "run bench run with pp512,tg128 (the default) and get a VALID result")
    roof = (tg or {}).get("roofline") or {}
    threads = backend.get("n_threads")
    machine = machine_from_hardware(hw, doc.get("bandwidth") or {}, backend.get("device"), doc.get("label") or name,
                                    n_threads=threads)
    machine = replace(machine, id=f"measured:{name}", origin=str(path))
    row = ReferenceRow(
        id=f"measured:{name}", machine=machine.id,
        backend={v: k for k, v in BACKEND_PLATFORM.items()}[machine.platform], engine="llama.cpp",
        model=model.get("id") or "?", quant=model.get("quant") or "?", file_bytes=model.get("file_bytes") or 0,
        flags=f"bench run, {threads or '?'} threads, flash attention {backend.get('flash_attn_resolved') or '?'}",
        build=f"llama-cpp-python {((doc.get('environment') or {}).get('packages') or {}).get('llama-cpp-python', '?')}",
        source=str(path), date=(doc.get("started_at") or "")[:10] or "?", date_is="run",
        pp512=pp["summary"]["pp_tps"]["mean"] if pp else None,
        pp_tokens=(pp or {}).get("params", {}).get("input_tokens") or 512,
        tg128=tg["summary"]["tg_tps"]["mean"] if tg else None,
        tg_context=roof.get("mean_context_tokens") or TG128_CONTEXT, threads=threads, tg_threads=threads,
        note=f"measured here; bandwidth {machine.bandwidth_basis}", measured=True)
    from models.catalog import CATALOG

    if row.model not in CATALOG or not CATALOG[row.model].listed:   # the tiny test model is nothing like one
        raise ReferenceError(f"{name}: model {row.model!r} is not a catalog model",
                             "calibrate on a run of a catalog model (bench run --model llama-3.1-8b)")
    return machine, [row], skipped
