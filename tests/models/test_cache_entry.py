"""A cache entry appears whole or not at all, for files and directories alike."""

import os
import time

import pytest

from contract.errors import ModelError
from models import cache_entry


def is_whole(path):
    return (path / "done").is_file() if path.is_dir() else path.read_text() == "whole"


def test_a_directory_is_renamed_into_place_and_a_lost_race_is_dropped(tmp_path):
    final = tmp_path / "model-dir"
    with cache_entry.building(final, is_whole) as tmp:
        tmp.mkdir()
        (tmp / "done").write_text("")
        # another build finished first while this one was writing
        with cache_entry.building(final, is_whole) as other:
            other.mkdir()
            (other / "done").write_text("")
    assert is_whole(final)
    assert [p.name for p in tmp_path.iterdir()] == ["model-dir"]      # no temporaries left


def test_a_failed_or_interrupted_build_leaves_nothing(tmp_path):
    for exc, partial in ((RuntimeError, "dir"), (KeyboardInterrupt, "file")):
        final = tmp_path / f"entry-{partial}"
        with pytest.raises(exc), cache_entry.building(final, is_whole) as tmp:
            if partial == "dir":
                tmp.mkdir()
                (tmp / "half").write_text("")
            else:
                tmp.write_text("half")
            raise exc()
    assert list(tmp_path.iterdir()) == []


def test_prepare_clears_dead_temporaries_only_and_checks_the_disk(tmp_path):
    final = tmp_path / "cache" / "m"
    cache_entry.prepare(final, stale_after_s=600)
    dead_dir, live_file = final.parent / ".m.1.dead.tmp", final.parent / ".m.2.busy.tmp"
    dead_dir.mkdir()
    (dead_dir / "x").write_text("")
    live_file.write_text("")
    old = time.time() - 3600
    os.utime(dead_dir, (old, old))
    cache_entry.prepare(final, stale_after_s=600)
    assert not dead_dir.exists() and live_file.exists()
    with pytest.raises(ModelError, match=r"not enough disk for big: needs .* GiB"):
        cache_entry.prepare(final, 600, need_bytes=1 << 60, what="big")
