import os
import time
from itertools import pairwise

import pytest

from models.catalog import get_model
from models.gguf_file import inspect_gguf
from models.synthetic import cache_path, expected_file_size, materialize

TINY = get_model("tiny")


def _build(cache, calls=None):
    return materialize(TINY, "Q8_0", cache_dir=cache, progress=None if calls is None else lambda d, t: calls.append((d, t)))


def test_builds_once_then_reuses(tmp_path):
    calls: list[tuple[int, int]] = []
    first = _build(tmp_path, calls)
    assert first == cache_path(TINY, "Q8_0", tmp_path)
    assert calls and calls[-1][0] == calls[-1][1] == first.stat().st_size == expected_file_size(TINY, "Q8_0")
    assert all(a[0] <= b[0] for a, b in pairwise(calls))  # progress only goes forward
    stamp = first.stat().st_mtime_ns
    again: list[tuple[int, int]] = []
    assert _build(tmp_path, again) == first
    assert again == [] and first.stat().st_mtime_ns == stamp
    assert list(tmp_path.iterdir()) == [first]  # no temp files left behind


def test_cache_key_separates_quants_and_env_sets_default(tmp_path, monkeypatch):
    assert cache_path(TINY, "Q8_0", tmp_path) != cache_path(TINY, "Q4_K_M", tmp_path)
    monkeypatch.setenv("RIGHTSIZE_CACHE", str(tmp_path / "env"))
    assert cache_path(TINY, "q8_0").parent == tmp_path / "env"


def test_same_seed_same_bytes(tmp_path):
    a = _build(tmp_path / "a").read_bytes()
    assert a == _build(tmp_path / "b").read_bytes()


def test_partial_temp_files_are_not_reused(tmp_path):
    final = cache_path(TINY, "Q8_0", tmp_path)
    stale = tmp_path / f".{final.name}.1.dead.tmp"
    live = tmp_path / f".{final.name}.2.busy.tmp"  # another process still writing
    for t in (stale, live):
        t.write_bytes(b"GGUF half written")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    assert _build(tmp_path) == final
    inspect_gguf(final)
    assert not stale.exists() and live.exists()


def test_truncated_cache_entry_is_rebuilt(tmp_path):
    path = _build(tmp_path)
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    assert _build(tmp_path) == path and path.stat().st_size == size
    inspect_gguf(path)


def test_interrupted_build_leaves_nothing(tmp_path):
    def interrupt(done, total):
        if done > total // 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        materialize(TINY, "Q8_0", cache_dir=tmp_path, progress=interrupt)
    assert list(tmp_path.iterdir()) == []
