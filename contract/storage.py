"""Result files on disk: atomic writes, listing, loading with clear errors."""

from __future__ import annotations

import gc
import json
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from contract import documents
from contract.errors import ResultsError
from contract.result import Document


def ensure_writable(results_dir: Path) -> Path:
    """Create the directory and prove we can write there, before anything is measured."""
    results_dir = Path(results_dir)
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=results_dir)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ResultsError(
            f"results directory {results_dir} is not writable: {exc.strerror or exc}",
            "pass --results-dir with a directory you can write to",
        ) from None
    return results_dir


def write_result(result: dict[str, Any], results_dir: Path, name: str, replace: Path | None = None) -> Path:
    """Write one result atomically and never over another: a temp file in the same directory
    (created with the umask's mode, as any file the user makes), then hard-linked to its name,
    which fails where that name exists. Two runs that picked one name both keep their result:
    the second gets `name-2.json`. `replace`: the file this writer wrote before (a document
    saved as it grows, as `bench quality` does), which it replaces."""
    results_dir = Path(results_dir)
    tmp = results_dir / f".{name}-{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2, allow_nan=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        if replace is not None:
            os.replace(tmp, replace)
            return Path(replace)
        return _link_exclusively(tmp, results_dir, name)
    finally:
        tmp.unlink(missing_ok=True)


def _link_exclusively(tmp: Path, results_dir: Path, name: str) -> Path:
    for n in range(1, 1000):
        target = results_dir / (f"{name}.json" if n == 1 else f"{name}-{n}.json")
        try:
            os.link(tmp, target)
            return target
        except FileExistsError:
            continue
        except OSError:
            # a filesystem without hard links: an exclusive create of the name, then the rename
            try:
                os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            except FileExistsError:
                continue
            os.replace(tmp, target)
            return target
    raise FileExistsError(f"{results_dir / name}.json and 998 more names are taken")


def write_result_safely(result: dict[str, Any], results_dir: Path, name: str,
                        replace: Path | None = None) -> tuple[Path, str | None]:
    """Never lose a measurement: if the results directory fails now, fall back to the temp dir.

    Returns the path written and a warning (or None).
    """
    try:
        return write_result(result, results_dir, name, replace), None
    except OSError as exc:
        fallback = Path(tempfile.gettempdir()) / "rightsize-results"
        fallback.mkdir(parents=True, exist_ok=True)
        path = write_result(result, fallback, name)
        return path, f"could not write to {results_dir} ({exc.strerror or exc}); result saved to {path}"


# Set by the test suite (and inherited by the processes it starts): a writer that breaks the
# contract fails its test instead of leaving a warning nobody reads.
STRICT_ENV = "RIGHTSIZE_STRICT_CONTRACT"


def write_typed(doc: Document, results_dir: Path, name: str,
                replace: Path | None = None) -> tuple[dict[str, Any], Path, str | None]:
    """Write a typed document as the contract dumps it, as write_result_safely does. Returns
    (the JSON as written, path, warning)."""
    data = documents.dump(doc)
    path, warning = write_result_safely(data, results_dir, name, replace)
    return data, path, warning


def write_document(doc: dict[str, Any], results_dir: Path, name: str) -> tuple[dict[str, Any], Path, str | None]:
    """Check a result against the contract, then write it as write_typed does. Returns
    (the document as written, path, warning). A document that fails the check is a bug in the
    suite, not in the measurement: it is written as measured, with a warning, never lost."""
    try:
        typed = documents.parse(doc)
    except ResultsError as exc:
        if os.environ.get(STRICT_ENV):
            raise
        path, warning = write_result_safely(doc, results_dir, name)
        problem = f"the result does not match the result schema ({exc.problem}); written as measured"
        return doc, path, "; ".join(w for w in (problem, warning) if w)
    return write_typed(typed, results_dir, name)


@contextmanager
def bulk() -> Iterator[None]:
    """The cyclic garbage collector paused while many documents are read and kept. Every collection
    re-scans the objects still alive, and a read document is thousands of them (10,000 results
    held: two thirds of the read time went to the collector finding no garbage). Documents and the
    rows built from them hold no reference cycles, so reference counting frees what is dropped;
    the collector runs again when the block ends."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def result_files(paths: list[Path]) -> list[Path]:
    """The .json files of `paths`, each directory's in its names' order; ResultsError for a path
    that does not exist."""
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files.extend(sorted(p.glob("*.json"), key=lambda f: f.name))
        elif p.exists():
            files.append(p)
        else:
            raise ResultsError(f"no such results file or directory: {p}", "pass a results directory or .json file")
    return files


def load_documents(paths: list[Path], kinds: tuple[str | None, ...] | None = (None,)) -> tuple[list[tuple[Path, Document]], list[str]]:
    """Typed result documents from files and directories. Returns (documents, warnings).

    Each goes through the contract's reader (contract/documents.py): versions 1 and 2 are upgraded, a
    malformed file or another schema version is reported as a warning, never a crash. `kinds`:
    the documents' `kind` values to keep (None: a `bench run` result, the default; "quality" and
    "eval": bench/outcomes.py); kinds=None keeps every kind.
    """
    loaded, warnings = [], []
    with bulk():
        for f in result_files(paths):
            try:
                doc = documents.read(f)
            except ResultsError as exc:
                warnings.append(f"skipped {exc.problem}")
                continue
            if kinds is None or getattr(doc, "kind", None) in kinds:
                loaded.append((f, doc))
    return loaded, warnings
