"""The one place outputs are checked and written (clave_lite/core/files.py)."""

from __future__ import annotations

import os
import stat

import pytest

from clave_lite.core.files import locked, refuse_overlap, same_file, staged
from clave_lite.errors import UsageError


def test_two_spellings_of_one_file_are_the_same_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.jsonl").write_text("x")
    os.link(tmp_path / "a.jsonl", tmp_path / "hard.jsonl")
    assert same_file("a.jsonl", tmp_path / "a.jsonl") and same_file("a.jsonl", "hard.jsonl")
    assert same_file("new.jsonl", tmp_path / "sub" / ".." / "new.jsonl")  # neither exists yet
    assert not same_file("a.jsonl", "b.jsonl") and not same_file("-", "-")
    with pytest.raises(UsageError, match="name the same file"):
        refuse_overlap([("-o", "new.jsonl"), ("--validation", tmp_path / "new.jsonl")])
    with pytest.raises(UsageError, match="is also an input"):
        refuse_overlap([("-o", "hard.jsonl")], ["a.jsonl"])


def test_a_planted_symlink_never_redirects_a_write(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    target = tmp_path / "real.gguf"
    for planted in (tmp_path / "real.gguf.tmp", tmp_path / ".real.gguf.tmp"):
        planted.symlink_to(victim)
    with staged(target) as tmp:
        assert not tmp.is_symlink() and tmp.parent == tmp_path
        tmp.write_bytes(b"GGUF...")
    assert victim.read_text() == "precious" and not target.is_symlink() and target.read_bytes() == b"GGUF..."


def test_written_files_get_the_umask_mode_and_keep_a_replaced_files_mode(tmp_path):
    old = os.umask(0o022)
    try:
        fresh = tmp_path / "fresh.jsonl"
        with staged(fresh) as tmp:
            tmp.write_text("a")
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
        kept = tmp_path / "kept.jsonl"
        kept.write_text("old")
        os.chmod(kept, 0o640)
        with staged(kept) as tmp:
            tmp.write_text("new")
        assert stat.S_IMODE(kept.stat().st_mode) == 0o640 and kept.read_text() == "new"
    finally:
        os.umask(old)


def test_a_failed_write_leaves_the_old_file_and_no_litter(tmp_path):
    target = tmp_path / "out.jsonl"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with staged(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_a_second_writer_of_one_output_is_refused(tmp_path):
    out = tmp_path / "scores.jsonl"
    first = open(out, "a")
    locked(first, out)
    second = open(out, "a")
    with pytest.raises(UsageError, match="another clave-lite run is writing it"):
        locked(second, out)
    first.close()
