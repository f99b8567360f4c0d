"""`bench quality`: the reference and each quant over the same windows of the same text.

The reference runs first; its next-token distributions are kept as llama-perplexity keeps them
(kld.encode_base, on disk: about 2 bytes x vocabulary per scored token) and each quant is then
compared with them window by window. Models are loaded one at a time, so the largest (the F16
reference) sets the memory needed. The document is rewritten after each model, so a failure or
Ctrl-C keeps what was measured.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.outcomes import outcome_document, write_outcome
from bench.quality import kld
from bench.quality.text import Text, load_text
from bench.quality.windows import Window, windows
from bench.run import RunUI
from contract.build import utc_now
from contract.enums import Status
from contract.errors import BenchError, ModelError
from contract.result import Outcome, QualityBody
from contract.validity import COMPLETED, FAILED, INTERRUPTED
from engines.clock import now_ns
from models.published_quality import published_deltas

SYNTHETIC_NOTE = ("synthetic weights: these figures are the numerical error of llama.cpp's quantizer on random "
                  "weights, not the quality of the real model; see the published deltas for that")
REAL_NOTE = "measured on these weights: what each quant loses against the reference on this text"


@dataclass
class QualityConfig:
    model: str
    quants: list[str]
    reference: str = "F16"
    text: Path | None = None
    n_ctx: int = 512
    chunks: int | None = None
    engine_options: dict = field(default_factory=dict)     # llama.cpp: n_threads, n_gpu_layers, flash_attn
    results_dir: Path = Path("results")
    label: str | None = None
    cache_dir: Path | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["text"] = None if self.text is None else str(self.text)
        d["results_dir"], d["cache_dir"] = str(self.results_dir), None if self.cache_dir is None else str(self.cache_dir)
        return d


@dataclass
class QualityOutcome:
    doc: dict                   # the JSON as written (bench quality --json prints it)
    document: Outcome           # the same, typed: what the table reads
    path: Path
    warning: str | None

    @property
    def exit_code(self) -> int:
        return {COMPLETED: 0, INTERRUPTED: 130}.get(self.doc["status"], 1)


def _models(config: QualityConfig, ui: RunUI):
    """(reference, [quants]) as ResolvedModels on the same weights: synthetic builds of a catalog
    model (one seed, so the same random weights at every quant), or your unquantized GGUF and
    llama.cpp's quantizations of it."""
    from models.quant import parse_quants
    from models.resolve import looks_like_path, resolve_model

    quants = [q.name for q in parse_quants(",".join(config.quants))]
    if looks_like_path(config.model):
        from models.requantize import quantized_copy, reference_type

        path = Path(config.model).expanduser()
        if path.is_dir() or path.suffix != ".gguf":
            raise ModelError(f"bench quality runs GGUF files through llama.cpp; {path} is not one",
                             "pass --model with an F16 .gguf file, or a catalog id")
        ref = resolve_model(str(path), config.reference, None, ui)
        ref.quant = reference_type(path)
        if config.reference.upper() != ref.quant:
            ui.warn(f"the reference is {path.name} itself ({ref.quant}); --reference {config.reference} is ignored")
        out = []
        for q in parse_quants(",".join(quants)):
            ui.info(f"quantizing {path.name} to {q.name} with llama.cpp's quantizer (once, cached)")
            made = quantized_copy(path, ref.fingerprint, q, config.cache_dir,
                                  config.engine_options.get("n_threads"), bool(config.engine_options.get("verbose")))
            m = resolve_model(str(made), q.name, None, ui)
            m.id, m.source = ref.id, "local"
            out.append(m)
        return ref, out
    reference = parse_quants(config.reference)[0].name
    if reference in quants:
        raise BenchError(f"{reference} is the reference: comparing it with itself measures nothing",
                         "drop it from --quant, or pass another --reference")
    ref = resolve_model(config.model, reference, config.cache_dir, ui)
    return ref, [resolve_model(config.model, q, config.cache_dir, ui) for q in quants]


class _Loaded:
    """One model loaded in llama.cpp with a context of one window, and its window logits."""

    def __init__(self, resolved, config: QualityConfig, ui: RunUI):
        from engines.llamacpp.engine import LlamaCppBackend
        from engines.llamacpp.logits import WindowLogits

        self.backend = LlamaCppBackend()
        options = {**config.engine_options, "n_ctx": config.n_ctx,
                   "n_batch": config.n_ctx, "n_ubatch": min(512, config.n_ctx)}
        prepared = self.backend.prepare(resolved.quant, options)
        for w in prepared.workarounds:
            ui.warn(w["line"])
        for line in prepared.warnings:
            ui.warn(f"warning: {line}")
        t0 = now_ns()
        self.info = self.backend.load(resolved.path, prepared.options)
        self.load_s = (now_ns() - t0) / 1e9
        self.workarounds = [w["line"] for w in prepared.workarounds]
        self.logits = WindowLogits(self.backend)

    def close(self) -> None:
        self.logits.close()
        self.backend.unload()


def _timing(load_s: float, seconds: float, wins: list[Window], n_ctx: int) -> dict:
    return {"load_s": load_s, "seconds": seconds, "windows": len(wins), "s_per_window": seconds / len(wins),
            "tokens_per_s": len(wins) * n_ctx / seconds if seconds > 0 else None}


class _BaseStore:
    """The reference's encoded distributions for every window, in memory-mapped files."""

    def __init__(self, directory: Path, n_windows: int, rows: int, vocab: int):
        self.codes = np.lib.format.open_memmap(directory / "codes.npy", "w+", np.uint16, (n_windows, rows, vocab))
        self.scale = np.zeros((n_windows, rows), np.float32)
        self.min_log_prob = np.zeros((n_windows, rows), np.float32)

    def put(self, i: int, enc: kld.EncodedBase) -> None:
        self.codes[i], self.scale[i], self.min_log_prob[i] = enc.codes, enc.scale, enc.min_log_prob

    def get(self, i: int) -> kld.EncodedBase:
        return kld.EncodedBase(np.asarray(self.codes[i]), self.scale[i], self.min_log_prob[i])


def _check_disk(directory: Path, n_windows: int, rows: int, vocab: int) -> None:
    need = n_windows * rows * vocab * 2
    free = shutil.disk_usage(directory).free
    if need > 0.9 * free:
        raise BenchError(f"the reference's distributions for {n_windows} windows need {need / 2**30:.1f} GiB, "
                         f"{directory} has {free / 2**30:.1f} GiB free", "pass --chunks N for fewer windows, or set TMPDIR")


def _marked_synthetic(path: Path) -> bool:
    """A file the suite built (models/synthetic.py marks it), passed by its path."""
    from models.gguf_file import inspect_gguf

    return bool(inspect_gguf(path).metadata.get("rightsize.synthetic"))


def _model_doc(ref, quants) -> dict:
    return {"id": ref.id, "name": ref.name, "source": ref.source, "reference": ref.quant,
            "architecture": ref.architecture,
            "files": {m.quant: {"path": str(m.path), "file_bytes": m.file_bytes, "fingerprint": m.fingerprint}
                      for m in [ref, *quants]}}


def execute(config: QualityConfig, ui: RunUI = RunUI()) -> QualityOutcome:
    """Raises BenchError for problems found before measuring; after that, failures are recorded."""
    import hardware
    from contract import storage

    storage.ensure_writable(config.results_dir)
    text: Text = load_text(config.text)
    ref, quants = _models(config, ui)
    synthetic = ref.source == "synthetic" or _marked_synthetic(ref.path)
    started = utc_now()
    body: dict = {
        "weights": "synthetic" if synthetic else "real",
        "what_it_measures": SYNTHETIC_NOTE if synthetic else REAL_NOTE,
        "text": {"name": text.name, "source": text.source, "default": text.default, "characters": len(text.body)},
        "method": "llama-perplexity --kl-divergence statistics (bench/quality/kld.py), llama.cpp logits",
        "n_ctx": config.n_ctx, "scored_per_window": config.n_ctx - 1 - config.n_ctx // 2,
        "reference": {"quant": ref.quant, "timing": None}, "quants": {}, "workarounds": [],
        # for a catalog model only: a file's name does not say which model's published figures apply
        "published": published_deltas(ref.id, [ref.quant, *[q.quant for q in quants]])
        if ref.source == "synthetic" else None,
    }
    info = hardware.probe()
    doc_args: dict[str, Any] = {"label": config.label, "started_at": started, "model": _model_doc(ref, quants),
                                    "hardware": info, "config": config.to_dict()}
    status = COMPLETED
    errors: list[str] = []
    saved: dict = {}

    def save(state: Status) -> None:
        # validated as the contract's QualityBody each time it is written: a writer's mistake fails here
        doc = outcome_document(status=state, errors=errors, body=QualityBody.model_validate(body),
                               run_id=saved["document"].run_id if saved else None, **doc_args)
        # each save replaces the one before it: one document, under one run id, as it grows
        written, path, warning = write_outcome(doc, config.results_dir, replace=saved.get("path"))
        saved.update(doc=written, document=doc, path=path, warning=warning)

    tmp = Path(tempfile.mkdtemp(prefix="rightsize-quality-"))
    try:
        loaded = _Loaded(ref, config, ui)
        try:
            tokens = loaded.logits.tokenize(text.body)
            wins = windows(tokens, config.n_ctx, loaded.logits.bos, config.chunks)
            rows, vocab = wins[0].targets.size, loaded.logits.n_vocab
            _check_disk(tmp, len(wins), rows, vocab)
            body.update(tokens=len(tokens), windows=len(wins), scored_tokens=len(wins) * rows, vocab=vocab)
            store = _BaseStore(tmp, len(wins), rows, vocab)
            t0 = now_ns()
            with ui.task(f"reference {ref.quant}: {len(wins)} windows of {config.n_ctx}", len(wins)) as advance:
                for w in wins:
                    store.put(w.index, kld.encode_base(loaded.logits.logits(w.tokens, w.first)[:-1]))
                    advance(1)
            body["reference"]["timing"] = _timing(loaded.load_s, (now_ns() - t0) / 1e9, wins, config.n_ctx)
            body["workarounds"] += loaded.workarounds
        finally:
            loaded.close()
        save(Status.RUNNING)
        for q in quants:
            loaded = _Loaded(q, config, ui)
            try:
                if loaded.logits.tokenize(text.body) != tokens:
                    raise BenchError(f"{q.quant}'s tokenizer splits the text differently from the reference's",
                                     "compare quants of the same model")
                parts = []
                t0 = now_ns()
                with ui.task(f"{q.quant} against {ref.quant}", len(wins)) as advance:
                    for w in wins:
                        logits = loaded.logits.logits(w.tokens, w.first)[:-1]
                        parts.append(kld.token_stats(logits, store.get(w.index), w.targets))
                        advance(1)
                seconds = (now_ns() - t0) / 1e9
                body["quants"][q.quant] = {**kld.summarize(kld.TokenStats.concat(parts)).to_dict(),
                                           "file_bytes": q.file_bytes,
                                           "timing": _timing(loaded.load_s, seconds, wins, config.n_ctx)}
                body["workarounds"] += [w for w in loaded.workarounds if w not in body["workarounds"]]
            finally:
                loaded.close()
            save(Status.RUNNING)
    except KeyboardInterrupt:
        status = INTERRUPTED
    except BenchError as exc:
        if not saved and body["reference"]["timing"] is None:
            raise                      # nothing measured yet: the user's to fix, one line
        status = FAILED
        errors.append(str(exc))
    except Exception as exc:
        status = FAILED
        errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    save(status)
    return QualityOutcome(saved["doc"], saved["document"], saved["path"], saved["warning"])
