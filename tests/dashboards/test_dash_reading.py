"""The results of a page read in worker processes give what one process gives: the same rows,
outcomes and warnings, in the same order."""

import shutil

from dashboards.reading import PARALLEL_FROM, read_all
from dashboards.site import read_results
from tests.dashboards.conftest import EXAMPLES

OUTCOMES = EXAMPLES.parent / "outcomes"


def _fleet(d):
    """The example runs and outcomes, one run copied (a duplicate), one file that is not a result."""
    for f in [*EXAMPLES.glob("*.json"), *OUTCOMES.glob("*.json")]:
        shutil.copy(f, d / f.name)
    first = sorted(EXAMPLES.glob("*.json"))[0]
    shutil.copy(first, d / ("zz-copy-of-" + first.name))
    (d / "broken.json").write_text("{not json")
    return d


def test_workers_read_what_one_process_reads(tmp_path):
    d = _fleet(tmp_path)
    one = read_results([d], allow_empty=True, workers=1)
    many = read_results([d], allow_empty=True, workers=3)
    assert len(one.rows) == len(list(EXAMPLES.glob("*.json"))) and one.outcomes
    assert many.rows == one.rows
    assert [o.run_id for o in many.outcomes] == [o.run_id for o in one.outcomes]
    assert many.warnings == one.warnings
    assert any("broken.json" in w for w in one.warnings)
    assert any("same run as" in w and "zz-copy-of-" in w for w in one.warnings)
    assert many.paths == one.paths


def test_a_few_files_are_read_here_and_thousands_by_workers(tmp_path, monkeypatch):
    """read_all's own choice: no pool below PARALLEL_FROM files (a pool costs more than it saves)."""
    import dashboards.reading as reading

    pools: list[int] = []
    real = reading.ProcessPoolExecutor

    def counted(n, **kw):
        pools.append(n)
        return real(n, **kw)

    monkeypatch.setattr(reading, "ProcessPoolExecutor", counted)
    monkeypatch.setattr(reading.os, "cpu_count", lambda: 4)
    files = sorted(_fleet(tmp_path).glob("*.json"))
    inputs = reading.RowInputs({}, {}, [], reading.CostSettings(), False)
    read_all(files, inputs)
    assert pools == []
    read_all(files * (PARALLEL_FROM // len(files) + 1), inputs)
    assert pools == [2]                  # one worker per 500 files, at most one per CPU
