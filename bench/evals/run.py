"""`bench eval`: every task through one backend, scored, with its tokens and time.

Tasks run one after another, greedy. A task whose request fails is scored wrong and counted in
`errors`; the run goes on. The outcome is written even when it fails or is interrupted.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.evals.answer import Answer
from bench.evals.scorers import passes_check, score
from bench.evals.tasks import Task, load_tasks
from bench.evals.wilson import wilson_interval
from bench.outcomes import outcome_document, write_outcome
from bench.run import RunUI
from contract.build import utc_now
from contract.errors import BenchError
from contract.result import EvalBody, EvalSummary
from contract.validity import COMPLETED, FAILED, INTERRUPTED
from engines.stats import summarize

BACKENDS = ("llamacpp", "openai", "llamacpp-server", "vllm")
SYNTHETIC_NOTE = ("synthetic weights: the model's output is random words, so it scores about 0 on any task; "
                  "the run shows the workflow and the cost side only")
ANSWER_CHARS = 2000          # kept per task in the outcome


@dataclass
class EvalConfig:
    tasks: Path
    backend: str = "llamacpp"
    model: str = "llama-3.1-8b"
    quant: str = "Q4_K_M"
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)      # never written anywhere
    endpoint: str | None = None          # None: chat when any task has messages, else completions
    provider: str | None = None          # which API price row, where several providers list the model
    engine_options: dict = field(default_factory=dict)
    request_timeout_s: float = 300.0
    results_dir: Path = Path("results")
    label: str | None = None
    cache_dir: Path | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("api_key")
        return {k: str(v) if isinstance(v, Path) else v for k, v in d.items()}


@dataclass
class EvalOutcome:
    doc: dict
    path: Path
    warning: str | None

    @property
    def exit_code(self) -> int:
        return {COMPLETED: 0, INTERRUPTED: 130}.get(self.doc["status"], 1)


def _endpoint(config: EvalConfig, tasks: list[Task]) -> str:
    chat = any(t.messages is not None for t in tasks)
    if config.endpoint is None:
        return "chat" if chat else "completions"
    if chat and config.endpoint == "completions":
        raise BenchError("tasks with messages need the chat endpoint", "drop --endpoint completions, or use prompts")
    return config.endpoint


def _context(tasks: list[Task], requested: int | None) -> int:
    """A context that holds every task's answer and a generous prompt (checked per task by the engine)."""
    return requested or max(2048, -(-(max(t.max_tokens for t in tasks) + 1536) // 256) * 256)


def summary(answers: list[Answer], correct: list[bool]) -> dict:
    """Accuracy with its Wilson 95% interval, tokens per task, latency; errors counted apart."""
    n, k = len(answers), sum(correct)
    interval = wilson_interval(k, n)
    return {"n": n, "correct": k, "accuracy": k / n if n else None, "wilson95": list(interval) if interval else None,
            "errors": sum(1 for a in answers if a.error),
            "input_tokens": summarize([a.input_tokens for a in answers if a.input_tokens is not None]),
            "output_tokens": summarize([a.output_tokens for a in answers if a.output_tokens is not None]),
            "e2e_s": summarize([a.e2e_s for a in answers if a.e2e_s is not None]),
            "ttft_s": summarize([a.ttft_s for a in answers if a.ttft_s is not None]),
            "tokens_unknown": sum(1 for a in answers if a.input_tokens is None or a.output_tokens is None)}


def _answer_local(config: EvalConfig, tasks, ui, body: dict, answers: list[Answer]) -> None:
    from bench.evals.local import LocalEngine
    from engines.llamacpp.engine import LlamaCppBackend
    from models.resolve import resolve_model

    resolved = resolve_model(config.model, config.quant, config.cache_dir, ui)
    body["model_doc"] = resolved.to_dict()
    backend = LlamaCppBackend()
    options = {**config.engine_options,
               "n_ctx": _context(tasks, config.engine_options.get("n_ctx"))}
    prepared = backend.prepare(resolved.quant, options)
    for w in prepared.workarounds:
        ui.warn(w["line"])
    loaded = backend.load(resolved.path, prepared.options)
    try:
        engine = LocalEngine(backend)
        body.update(device=str(loaded.device),
                    chat_template=engine.chat_template, server_is_local=True, served_model=None)
        with ui.task(f"{len(tasks)} tasks through llama.cpp", len(tasks)) as advance:
            for task in tasks:
                answers.append(engine.answer(task))
                advance(1)
    finally:
        backend.unload()


def _answer_http(config: EvalConfig, tasks, ui, body: dict, answers: list[Answer]) -> None:
    from bench.evals.remote import answer_all, eval_backend

    backend = eval_backend(config.backend, config.api_key)
    options = {**config.engine_options, "n_ctx": _context(tasks, config.engine_options.get("n_ctx")),
               "endpoint": body["endpoint"], "request_timeout_s": config.request_timeout_s}
    if config.backend == "openai":
        if not config.base_url:
            raise BenchError("--backend openai needs --base-url", "for example --base-url http://127.0.0.1:8080")
        target: str | Path = config.model
        quant = None
        options["base_url"] = config.base_url
        body["model_doc"] = {"id": config.model, "name": config.model, "quant": None, "source": "server"}
    else:
        from engines import model_format
        from models.resolve import resolve_model

        resolved = resolve_model(config.model, config.quant, config.cache_dir, ui,
                                 backend=model_format("vllm-serve" if config.backend == "vllm" else config.backend))
        options.update(resolved.engine_options)
        quant = resolved.quant
        target = resolved.path
        body["model_doc"] = resolved.to_dict()
    # the keys this backend reads (vLLM has no GPU-layer count), as its options model
    typed = backend.engine_options.of(backend.engine_options.keep(options), backend.name)
    prepared = backend.prepare(quant, typed).options      # the HTTP client's settles nothing
    loaded = backend.load(target, prepared)
    try:
        info = loaded.engine_info
        body.update(device=str(loaded.device),
                    server_is_local=bool(info.get("server_is_local")), served_model=info.get("server_model"),
                    base_url=info.get("base_url"), provider=config.provider,
                    chat_template="the server's (it applies the model's own on /v1/chat/completions)"
                    if body["endpoint"] == "chat" else "none: prompts are sent as text to complete")
        with ui.task(f"{len(tasks)} tasks through {config.backend}", len(tasks)) as advance:
            answers.extend(answer_all(backend, tasks, advance))
    finally:
        backend.unload()


def execute(config: EvalConfig, ui: RunUI = RunUI()) -> EvalOutcome:
    import hardware
    from contract import storage

    if config.backend not in BACKENDS:
        raise BenchError(f"bench eval runs through {', '.join(BACKENDS)}, not {config.backend!r}",
                         "pass one of those with --backend")
    storage.ensure_writable(config.results_dir)
    tasks = load_tasks(config.tasks)
    raw = Path(config.tasks).read_bytes()
    body: dict = {"tasks_file": {"name": Path(config.tasks).name, "sha256": hashlib.sha256(raw).hexdigest(),
                                 "tasks": len(tasks)},
                  "backend": config.backend, "endpoint": _endpoint(config, tasks) if config.backend != "llamacpp"
                  else "in-process", "answers": [], "summary": None}
    started = utc_now()
    answers: list[Answer] = []
    status, errors = COMPLETED, []
    try:
        (_answer_local if config.backend == "llamacpp" else _answer_http)(config, tasks, ui, body, answers)
    except KeyboardInterrupt:
        status = INTERRUPTED
    except BenchError as exc:
        if not answers:
            raise                  # nothing measured: the user's to fix, one line
        status = FAILED
        errors.append(str(exc))
    except Exception as exc:
        status = FAILED
        errors.append(f"{type(exc).__name__}: {exc}")
    model = body.pop("model_doc", None) or {"id": config.model, "quant": config.quant}
    body["weights"] = "synthetic" if model.get("source") == "synthetic" else "real"
    if body["weights"] == "synthetic":
        body["what_it_measures"] = SYNTHETIC_NOTE
    scored = [score(t, a.text) if a.error is None else (False, a.error) for t, a in zip(tasks, answers, strict=True)]
    body["answers"] = [{"id": t.id, "correct": ok, "why": why, "valid": a.error is None and passes_check(t, a.text),
                        **{**a.to_dict(), "text": a.text[:ANSWER_CHARS]}}
                       for t, a, (ok, why) in zip(tasks, answers, scored, strict=True)]
    body["summary"] = summary(answers, [ok for ok, _ in scored])
    if len(answers) < len(tasks):
        body["summary"]["not_run"] = len(tasks) - len(answers)
    doc = outcome_document(label=config.label, started_at=started, status=status, errors=errors,
                           model={k: model.get(k) for k in ("id", "name", "quant", "source", "path", "fingerprint")},
                           hardware=hardware.probe(), config=config.to_dict(),
                           body=EvalBody.model_validate(body))     # the contract's: a writer's mistake fails here
    written, path, warning = write_outcome(doc, config.results_dir)
    return EvalOutcome(written, path, warning)


def accuracy_text(s: EvalSummary | None) -> str:
    if s is None or s.accuracy is None or s.wilson95 is None:
        return "n/a (no task answered)"
    lo, hi = s.wilson95
    return f"{s.accuracy:.1%} ({s.correct}/{s.n}; Wilson 95% {lo:.1%}-{hi:.1%})"

