"""One `bench run`: resolve the model, load the engine, drive the scenarios, write the result.

Everything measured goes into the result as it is measured; a failure or Ctrl-C still writes
the result file (status `failed` / `interrupted`) with what was kept. The engine and the
measurement around it are the caller's (bench/commands/job.py gives the real ones: engine_for,
RunMeasurement), so that the run's own logic can be tested with fakes.
"""

from __future__ import annotations

import contextlib
import socket
import traceback
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from bench import environment
from bench.isolation import report_stage
from bench.journal import Journal
from bench.measurement import MeasurementFactory, decode_roofline
from contract import documents, storage
from contract.build import run_document, utc_now
from contract.build import run_id as make_run_id
from contract.errors import BenchError, ResultsError, ScenarioError
from contract.result import BackendInfo, RunResult
from contract.validity import COMPLETED, FAILED, INTERRUPTED, measured_anything, run_validity
from engines import get_backend
from engines.base import Backend, DepthEngine, TokenEngine
from models.resolve import HUB_PREFIX, ResolvedModel, looks_like_path, resolve_model
from scenarios.definitions import Scenario
from scenarios.kinds import KINDS, AnyScenario, MeasuredRecord, scenario_runs
from scenarios.request import RunRequest
from scenarios.runner import refuse_depth


class RunUI:
    """What a run tells the person watching. The CLI draws progress bars; tests stay silent."""

    def info(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
        pass

    def task(self, description: str, total: int | None) -> AbstractContextManager[Callable[..., None]]:
        """A unit of work; yields advance(n, total=None)."""
        return contextlib.nullcontext(lambda n, total=None: None)


@dataclass
class RunOutcome:
    document: RunResult         # the result, typed: what the tables read
    result: dict                # the same as the JSON written (bench run --json prints it)
    path: Path
    warning: str | None

    @property
    def exit_code(self) -> int:
        """README, Exit codes: 0 completed, 1 failed, 3 completed without one valid measurement, 130 interrupted."""
        if self.document.status == COMPLETED and not measured_anything(self.result["scenarios"]):
            return NOTHING_MEASURED
        return {COMPLETED: 0, INTERRUPTED: 130}.get(self.document.status, 1)


# The exit code of a run that ran to its end without one valid measurement (every request failed).
NOTHING_MEASURED = 3


def default_context(scenarios: Sequence[AnyScenario], requested: int | None) -> int:
    """Smallest context that fits every scenario, unless the user asked for one."""
    needed = max(s.context_needed for s in scenarios)
    if requested is not None:
        if requested < needed:
            raise BenchError(f"context size {requested} is smaller than the {needed} tokens the scenarios need",
                             f"pass --ctx-size {needed} or more, or shorten the scenarios")
        return requested
    return max(256, -(-needed // 256) * 256)


def _server_model(name: str) -> dict:
    """Model identity when a server holds the model: its name is all we know for sure."""
    return {"id": name, "name": name, "quant": None, "source": "server", "path": None, "file_bytes": None,
            "fingerprint": None, "architecture": None, "weight_bytes_per_token": None, "kv_bytes_per_token": None}


def engine_for(config: RunRequest, api_key: str | None = None) -> Backend:
    """The engine `config` names, ready to prepare (HTTP backends: with `api_key`, which no request
    holds); raises BackendError when it is not installed. Made before execute() so that a missing
    engine is reported before any build."""
    return get_backend(config.backend, **({"api_key": api_key} if api_key else {}))


def execute(config: RunRequest, ui: RunUI = RunUI(), *, backend: Backend,
            measurement: MeasurementFactory) -> RunOutcome:
    """Run everything in `config` on `backend` (engine_for's), measured by what
    `measurement(ui, idle_seconds)` starts (RunMeasurement). Raises BenchError only for problems
    found before measuring."""
    results_dir = storage.ensure_writable(config.results_dir)
    caps = backend.capabilities
    for s in config.scenarios:
        # pp/tg@d<D> need an engine that holds a context before a generation: never a server's.
        if isinstance(s, Scenario) and s.depth and not isinstance(backend, DepthEngine):
            raise refuse_depth(s, config.backend)
        # Over HTTP, single-stream is sequential requests; pp/tg need the engine itself.
        if KINDS[s.kind].token_level and not isinstance(backend, TokenEngine):
            raise ScenarioError(f"scenario {s.name} needs token-level control of an engine, which backend "
                                f"{config.backend} does not give", "run single-stream or a workload profile such as "
                                "--scenario chat, or use --backend llamacpp")
    given = backend.engine_options.keep(config.backend_options)   # each engine gets its own keys only
    given["n_ctx"] = default_context(config.scenarios, given.get("n_ctx"))
    # The run's first line: the device measured and why. Before a synthetic build (the parent checked
    # the catalog id); after a file, a directory or a hub id is checked, so that bad input is one line.
    device_line = config.backend_reason
    if device_line and not (looks_like_path(config.model) or config.model.startswith(HUB_PREFIX)):
        ui.warn(device_line)
        device_line = None
    # A bad model name, quant or file is the user's to fix: it fails here, before a result exists.
    resolved: ResolvedModel | None = (resolve_model(config.model, config.quant, config.cache_dir, ui,
                                                    backend=backend.model_format or config.backend)
                                      if caps.local_model else None)
    if device_line:
        ui.warn(device_line)
    if resolved is not None:
        given.update(resolved.engine_options)
    # the engine's options model, made once, of the keys it reads (an HTTP client has no context
    # size, which the result records all the same): a wrong value is one line here
    options = backend.engine_options.of(backend.engine_options.keep(given), config.backend)
    model_doc = resolved.to_dict() if resolved else _server_model(config.model)
    # What depends on this machine is settled before loading: llama.cpp's kernels are probed here.
    prepared = backend.prepare(resolved.quant if resolved else None, options)
    options = prepared.options
    report_stage({"if_it_dies": prepared.if_it_dies})
    loaded = None
    if resolved is None:
        # A server is to an HTTP backend what a model file is to an engine: an unreachable one,
        # a refused key or an unknown model name fails here too, before a result exists.
        loaded = backend.load(config.model, options)

    started = utc_now()  # e.g. 2026-11-28T01:45:05+00:00
    label = config.label or socket.gethostname()
    run_id = make_run_id(started, label, model_doc["id"], model_doc["quant"], config.backend, unique=True)
    result = run_document(run_id=run_id, label=label, started_at=started,
                          # the keys given, in their order, with the values the engine runs with
                          config=config.config_record({**given, **options.given()}),
                          environment=environment.capture(), model=model_doc,
                          engine_health=prepared.engine_health, workarounds=prepared.workarounds)
    # each pass as it is measured: what a killed process measured is rebuilt from it (bench/journal.py)
    journal = Journal(results_dir, run_id, result, ui.warn)
    report_stage({"journal": str(journal.path)})
    records: list[MeasuredRecord] = []
    status = COMPLETED
    measuring = None
    try:
        measuring = measurement(ui, config.idle_seconds)
        result.hardware = measuring.hardware()
        result.bandwidth = measuring.bandwidth_doc()
        journal.set("hardware", result.hardware)
        journal.set("bandwidth", result.bandwidth)
        measuring.start(ui)
        for w in prepared.workarounds:
            ui.warn(w["line"])
        for line in prepared.warnings:
            ui.warn(f"warning: {line}")
        if loaded is None:
            assert resolved is not None             # no model file only where a server was loaded above
            ui.info(f"loading {resolved.path.name} with {config.backend}")
            loaded = backend.load(resolved.path, options)
        result.backend = BackendInfo.model_validate({"name": backend.name, "device": loaded.device,
                                                     "n_ctx": loaded.n_ctx, **loaded.engine_info})
        journal.set("backend", result.backend)
        # the memory the weights are read from: each decode figure's ceiling
        threads = loaded.engine_info.get("n_threads")
        spec, measured = measuring.bandwidths(loaded.device, threads)
        # A remote server's energy is not this machine's: no energy windows then.
        energy = loaded.engine_info.get("server_is_local", True)
        for scenario in config.scenarios:
            for record, drive in scenario_runs(backend, loaded, scenario):
                index = len(records)
                records.append(record)
                if drive is None:              # an SLO search's answer: nothing to measure
                    journal.done(index, record)
                    continue
                journal.started(index, record)
                try:
                    with ui.task(record.name, record.planned) as advance:
                        drive(journal.tracking(index, record, advance),
                              measuring.begin_scenario if energy else lambda: None)
                except KeyboardInterrupt:
                    record.status = INTERRUPTED
                    raise
                except Exception as exc:  # one failing scenario does not stop the rest
                    record.status, record.error = FAILED, f"{type(exc).__name__}: {exc}"
                    result.errors.append(f"{record.name}: {record.error}")
                    status = FAILED
                finally:
                    record.energy = measuring.end_scenario(record)
                    record.roofline = decode_roofline(record.decode_rate(), model_doc, spec, measured)
                    journal.done(index, record)
        if measuring.recheck_roof(ui, records, model_doc, loaded.device, threads):
            result.bandwidth = measuring.bandwidth_doc()
            journal.set("bandwidth", result.bandwidth)
    except KeyboardInterrupt:
        status = INTERRUPTED
    except BenchError as exc:
        status = FAILED
        result.errors.append(str(exc))
    except Exception as exc:
        status = FAILED
        result.errors.append(f"{type(exc).__name__}: {exc}")
        result.traceback = traceback.format_exc()
    finally:
        if measuring is not None:
            measuring.sample_now()   # memory peak while the model is still loaded
        if loaded is not None and caps.engine_memory:
            with contextlib.suppress(Exception):   # the engine's own account; never fails a run
                result.engine_memory = backend.engine_memory()
        with contextlib.suppress(Exception):
            backend.unload()

    result.status = status
    result.finished_at = utc_now()
    result.scenarios = [r.to_entry() for r in records]
    extra_reasons = []
    if measuring is not None:
        report = measuring.finish()
        result.memory = report.memory.model_copy(update={"model_file_bytes": model_doc["file_bytes"],
                                                         "kv_cache_bytes_per_token": model_doc["kv_bytes_per_token"]})
        result.monitoring = report.monitoring()
        result.timeline = report.timeline
        for device, t in report.throttle.items():
            if t.get("reasons"):
                extra_reasons.append(f"throttling seen on {device}: {', '.join(t['reasons'])}")
    result.validity = run_validity(status, result.scenarios, extra_reasons)
    try:
        # A document that breaks the contract is a bug in this writer, not in the measurement: it is
        # written as measured, then the run fails here, naming the file and the field (contract/storage.py).
        written, path, warning = storage.write_document(result, results_dir, run_id)
    except ResultsError:
        journal.remove()
        raise
    journal.remove()
    typed = documents.run_result(written)
    return RunOutcome(typed, written, path, warning)
