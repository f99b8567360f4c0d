import json
import os

import pytest

from contract.build import died_run
from contract.documents import dump
from contract.errors import ResultsError
from contract.result import SCHEMA_VERSION
from contract.storage import ensure_writable, load_documents, write_result, write_result_safely


def test_atomic_write_leaves_no_temp_files(tmp_path):
    path = write_result({"schema_version": SCHEMA_VERSION, "x": 1}, tmp_path, "r1")
    assert json.loads(path.read_text()) == {"schema_version": SCHEMA_VERSION, "x": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r1.json"]


def test_nan_is_refused_rather_than_written(tmp_path):
    with pytest.raises(ValueError):
        write_result({"schema_version": SCHEMA_VERSION, "x": float("nan")}, tmp_path, "bad")
    assert list(tmp_path.iterdir()) == []


def test_unwritable_directory_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a dir")
    with pytest.raises(ResultsError) as err:
        ensure_writable(blocker / "results")
    assert "not writable" in str(err.value) and "--results-dir" in str(err.value)


def test_failed_write_falls_back_instead_of_losing_the_result(tmp_path, monkeypatch):
    gone = tmp_path / "gone"
    gone.mkdir()
    os.rmdir(gone)   # directory vanished after the run started
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)
    path, warning = write_result_safely({"schema_version": SCHEMA_VERSION}, gone, "r2")
    assert path.exists() and warning and str(path) in warning


def test_loading_skips_bad_files_with_warnings(tmp_path):
    ok = died_run(finished_at="2026-12-02T07:00:00+00:00", label="box", model="tiny", quant="Q4_K_M",
                  backend="llamacpp", environment={}, error="died").model_copy(update={"run_id": "ok"})
    write_result(dump(ok), tmp_path, "good")
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "other.json").write_text(json.dumps({"schema_version": 999}))
    (tmp_path / "foreign.json").write_text(json.dumps({"hello": 1}))
    loaded, warnings = load_documents([tmp_path])
    assert [doc.run_id for _, doc in loaded] == ["ok"]
    assert len(warnings) == 3
    assert any("broken.json" in w for w in warnings)
    assert any("schema_version 999" in w for w in warnings)


def test_a_result_that_breaks_the_contract_is_written_as_measured_then_fails(tmp_path):
    """A writer's bug, not the measurement's: nothing is lost, and nothing goes on as if it were fine."""
    from contract.storage import write_document
    odd = {"schema_version": SCHEMA_VERSION, "run_id": "odd"}
    with pytest.raises(ResultsError) as raised:
        write_document(odd, tmp_path, "odd")
    problem = raised.value.problem
    assert problem.startswith("the result does not match the result schema") and "field status" in problem
    (path,) = tmp_path.glob("odd*.json")
    assert str(path) in problem and json.loads(path.read_text()) == odd


def test_a_journal_whose_document_breaks_the_contract_is_rebuilt_as_measured_then_fails(tmp_path):
    """The same policy where a dead run's journal is rebuilt: the file is written, the journal gone."""
    from bench.journal import journal_path, rebuild
    from contract.enums import Status
    doc = dump(died_run(finished_at="2026-12-02T07:00:00+00:00", label="box", model="tiny", quant="Q4_K_M",
                        backend="llamacpp", environment={}, error="boom"))
    doc["backend"] = ["not", "a", "mapping"]
    journal = journal_path(tmp_path, doc["run_id"])
    journal.write_text(json.dumps({"run": doc}) + "\n")
    with pytest.raises(ResultsError) as raised:
        rebuild(journal, Status.FAILED, "the engine process was killed")
    assert "field backend" in raised.value.problem and not journal.exists()
    (path,) = tmp_path.glob("*.json")
    written = json.loads(path.read_text())
    assert str(path) in raised.value.problem and written["backend"] == ["not", "a", "mapping"]
    assert written["errors"] == ["boom", "the engine process was killed"] and written["status"] == "failed"


def test_a_document_saved_as_it_grows_replaces_only_itself(tmp_path):
    """bench quality saves its outcome after each quant: one file, while another writer's
    result under the same name is kept beside it."""
    first = write_result({"schema_version": SCHEMA_VERSION, "n": 1}, tmp_path, "grows")
    other = write_result({"schema_version": SCHEMA_VERSION, "other": True}, tmp_path, "grows")
    again = write_result({"schema_version": SCHEMA_VERSION, "n": 2}, tmp_path, "grows", replace=first)
    assert again == first and other == tmp_path / "grows-2.json"
    assert json.loads(first.read_text())["n"] == 2 and json.loads(other.read_text())["other"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grows-2.json", "grows.json"]
