"""The reference set: published llama-bench and serving measurements (hardware/reference.json),
and the user's own results joining them.

Checked when loaded, like the model catalog: every row names a known machine, a catalog model and
a quant the engine has, a file size within 1% of the catalog's exact size for that model and
quant (so the bytes the projection divides by are the bytes that were measured), positive figures,
a source and a date. A bad row stops with one line naming it.

Result documents are read in one place, `rows_from_result`, as the typed contract's RunResult
(contract/result.py).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, replace
from functools import cached_property, lru_cache
from pathlib import Path

from contract import documents
from contract.enums import ScenarioKind, Status, Verdict
from contract.errors import BenchError
from contract.result import Document, RunResult, StreamEntry
from hardware.machines import Machine, machine_from_hardware, machines

BACKEND_PLATFORM = {"CUDA": "cuda", "ROCm": "rocm", "Metal": "metal", "CPU": "cpu", "Vulkan": "vulkan"}
ENGINE_FORMAT = {"llama.cpp": "llamacpp", "vllm": "vllm"}
TG128_CONTEXT = 64            # a tg128 run decodes from 1 to 129 tokens of context: 64 on average
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


ERAS = ("2023", "2024", "2025+")     # llama.cpp build eras, oldest first; the newest is what projections speak for


def build_era(when: str | None) -> str:
    """The era of a YYYY[-MM[-DD]] date; undated builds are taken as current."""
    if not when or not _DATE.match(when):
        return ERAS[-1]
    year = int(when[:4])
    return ERAS[0] if year <= 2023 else ERAS[1] if year == 2024 else ERAS[2]


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
    build_date: str | None = None  # when the llama.cpp build was made: its era sets the fixed time per token
    tg_ci95: tuple[float, float] | None = None   # the user's own run: the 95% CI of its tg and pp means
    pp_ci95: tuple[float, float] | None = None
    fingerprint: str | None = None  # ... and the hardware fingerprint of the machine it ran on

    @property
    def platform(self) -> str:
        return BACKEND_PLATFORM[self.backend]

    @cached_property
    def era(self) -> str:
        """The llama.cpp build era: the build's date where known, else the row's own date (a build is
        never newer than its figures; a date that is when the row was accessed says nothing)."""
        when = self.build_date or (self.date if self.date_is != "accessed" else None)
        return build_era(when)

    @property
    def source_key(self) -> str:
        """The source as one publication: its text without the note on where it was restated."""
        return re.sub(r"\s*\((reference-data|anchors)[^)]*\)\s*$", "", self.source).strip()

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
    if row.build_date is not None and not _DATE.match(row.build_date):
        raise ReferenceError(f"{where}: build_date {row.build_date!r} is not YYYY-MM-DD, YYYY-MM or YYYY",
                             "fix build_date or set it to null")


def build_reference(raw_rows: list[dict], known: dict[str, Machine]) -> list[ReferenceRow]:
    out, seen = [], set()
    fields = set(ReferenceRow.__dataclass_fields__) - {"measured", "tg_ci95", "pp_ci95", "fingerprint"}
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


def _valid_stream(result: RunResult, kind: ScenarioKind) -> StreamEntry | None:
    """The first completed, VALID entry of a pp or tg scenario from an empty cache (not pp/tg@d<D>)."""
    return next((sc for sc in result.scenarios if isinstance(sc, StreamEntry) and sc.kind == kind
                 and not sc.params.depth and sc.status == Status.COMPLETED
                 and sc.validity.verdict == Verdict.VALID), None)


def rows_from_result(result: Document, path: Path | str) -> tuple[Machine, list[ReferenceRow], list[str]]:
    """A measured result as (its machine, rows that join the reference set, why anything was left
    out). Its valid pp<N> and tg<N> scenarios become one row. Only llama.cpp results of a catalog
    model join: the projection is fit on llama.cpp figures."""
    doc = documents.run_result(result, path)
    name = Path(path).name
    model, hw = doc.model, doc.hardware
    skipped: list[str] = []
    if doc.config.backend != "llamacpp":
        raise ReferenceError(f"{name}: a {doc.config.backend} result; projections are fit on llama.cpp results",
                             "pass a result of bench run --backend llamacpp")
    if hw is None:
        raise ReferenceError(f"{name}: the result has no hardware section", "pass a result written by bench run")
    tg, pp = _valid_stream(doc, ScenarioKind.TG), _valid_stream(doc, ScenarioKind.PP)
    for kind, sc in (("tg", tg), ("pp", pp)):
        if sc is None:
            skipped.append(f"{name}: no valid {kind}<N> scenario, so no {kind} figure joins the fit")
    if tg is None and pp is None:
        raise ReferenceError(f"{name}: no valid pp<N> or tg<N> scenario to calibrate on",
                             "run bench run with pp512,tg128 (the default) and get a VALID result")
    roof = tg.roofline if tg else None
    # llama.cpp's own backend fields (BackendInfo keeps what an engine adds)
    threads = getattr(doc.backend, "n_threads", None)
    flash_attn = getattr(doc.backend, "flash_attn_resolved", None)
    device = doc.backend.device if doc.backend else None
    machine = machine_from_hardware(hw, doc.bandwidth or {}, device.value if device else None, doc.label or name,
                                    n_threads=threads)
    machine = replace(machine, id=f"measured:{name}", origin=str(path))
    pp_tps, tg_tps = (pp.summary.pp_tps if pp else None), (tg.summary.tg_tps if tg else None)
    row = ReferenceRow(
        id=f"measured:{name}", machine=machine.id,
        backend={v: k for k, v in BACKEND_PLATFORM.items()}[machine.platform], engine="llama.cpp",
        model=model.id or "?", quant=model.quant or "?", file_bytes=model.file_bytes or 0,
        flags=f"bench run, {threads or '?'} threads, flash attention {flash_attn or '?'}",
        build=f"llama-cpp-python {(doc.environment.get('packages') or {}).get('llama-cpp-python', '?')}",
        source=str(path), date=(doc.started_at or "")[:10] or "?", date_is="run",
        pp512=pp_tps.mean if pp_tps else None,
        pp_tokens=(pp.params.input_tokens if pp else None) or 512,
        tg128=tg_tps.mean if tg_tps else None,
        tg_ci95=tuple(tg_tps.ci95) if tg_tps and tg_tps.ci95 else None,      # type: ignore[arg-type]
        pp_ci95=tuple(pp_tps.ci95) if pp_tps and pp_tps.ci95 else None,      # type: ignore[arg-type]
        fingerprint=hw.fingerprint,
        tg_context=(roof.mean_context_tokens if roof else None) or TG128_CONTEXT, threads=threads, tg_threads=threads,
        note=f"measured here; bandwidth {machine.bandwidth_basis}", measured=True)
    from models.catalog import CATALOG

    if row.model not in CATALOG or not CATALOG[row.model].listed:   # the tiny test model is nothing like one
        raise ReferenceError(f"{name}: model {row.model!r} is not a catalog model",
                             "calibrate on a run of a catalog model (bench run --model llama-3.1-8b)")
    return machine, [row], skipped
