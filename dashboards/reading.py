"""A fleet's results read for a page: each file read and checked by the contract, and a bench run
result turned into its row (rows.build_row), in worker processes when there are thousands.

Reading and checking the documents is most of a dashboard build (10,000 results: 6.5 of 11.7 s on
a 2-vCPU AMD EPYC), and each file stands alone, so the files are cut into one contiguous slice per
worker and what comes back is the rows (not the documents, which cost more to send than to read)
in file order. Below PARALLEL_FROM files starting the workers costs more than they save, and the
files are read in this process, by the same function.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from contract import documents
from contract.errors import ResultsError
from contract.result import Outcome, RunResult
from contract.storage import bulk
from dashboards.prices import ApiPrice
from dashboards.profiles import CostProfile
from dashboards.rows import CostSettings, build_row, check_finite

PARALLEL_FROM = 1000       # files; a worker's start is ~0.1 s, a file's read ~1 ms


@dataclass(frozen=True)
class RowInputs:
    """What build_row needs beside a document: the same for every file."""
    profiles: dict[str, CostProfile]
    chosen: dict[str, str]
    prices: list[ApiPrice]
    settings: CostSettings
    compare: bool


@dataclass
class Read:
    """One file: a run's row, an outcome kept whole, or why it was skipped."""
    path: Path
    run_id: str | None = None
    row: dict | None = None                 # a bench run result's figures and cost
    outcome: Outcome | None = None          # a bench quality / bench eval outcome
    problem: str | None = None              # unreadable, or its figures do not compute


def read_slice(files: list[Path], inputs: RowInputs) -> list[Read]:
    """Each file in order, as a Read."""
    cache: dict = {}                        # the preset each machine matches, chosen once per machine
    out = []
    with bulk():                            # thousands of documents held: no collector passes over them
        for path in files:
            try:
                doc = documents.read(path)
            except ResultsError as exc:
                out.append(Read(path, problem=f"skipped {exc.problem}"))
                continue
            if isinstance(doc, Outcome):
                out.append(Read(path, doc.run_id, outcome=doc))
                continue
            out.append(_row_of(path, doc, inputs, cache))
    return out


def _row_of(path: Path, doc: RunResult, inputs: RowInputs, cache: dict) -> Read:
    try:
        row = build_row(doc, path, inputs.profiles, inputs.chosen, inputs.prices, inputs.settings,
                        compare=inputs.compare, profile_cache=cache)
        check_finite(row)                   # figures computed to NaN must not reach the page
    except (ArithmeticError, ValueError) as exc:   # a document the contract accepts, figures that do not compute
        return Read(path, doc.run_id, problem=skipped(path, exc))
    return Read(path, doc.run_id, row=row)


def skipped(path: Path, exc: Exception) -> str:
    """The warning for a result whose figures do not compute."""
    return f"skipped {path}: its figures do not compute ({type(exc).__name__}: {exc})"


def read_all(files: list[Path], inputs: RowInputs, workers: int | None = None) -> list[Read]:
    """read_slice over every file, in `workers` processes (None: one per CPU from PARALLEL_FROM
    files on, else this one)."""
    if workers is None:
        workers = min(os.cpu_count() or 1, len(files) // (PARALLEL_FROM // 2)) if len(files) >= PARALLEL_FROM else 1
    workers = max(1, min(workers, len(files)))
    if workers == 1:
        return read_slice(files, inputs)
    step = -(-len(files) // workers)
    slices = [files[i:i + step] for i in range(0, len(files), step)]
    # fork where there is one: a worker starts with the suite already imported (spawn re-imports it)
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else None)
    with ProcessPoolExecutor(len(slices), mp_context=context) as pool:
        return [read for part in pool.map(read_slice, slices, [inputs] * len(slices)) for read in part]
