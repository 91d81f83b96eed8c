"""Every file is written to a temporary name, flushed to the disk (fsync), then renamed into
place, and the rename itself is flushed (fsync of the directory): after a crash or a power
loss a file is either the old one or the whole new one, never empty or truncated (issue 19)."""

import os
from pathlib import Path

from memrepro import io


def _calls(monkeypatch) -> list[tuple[str, str]]:
    """Record os.fsync (of which file or folder) and os.replace calls, in order."""
    calls: list[tuple[str, str]] = []
    fsync, replace = os.fsync, os.replace

    def recording_fsync(fd):
        calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        fsync(fd)

    def recording_replace(src, dst):
        calls.append(("replace", str(Path(src).resolve())))
        replace(src, dst)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "replace", recording_replace)
    return calls


def test_the_temporary_file_is_synced_before_the_rename_and_the_folder_after(tmp_path,
                                                                              monkeypatch):
    calls = _calls(monkeypatch)
    io.write_text(tmp_path / "a.txt", "hello")
    assert (tmp_path / "a.txt").read_text() == "hello"
    kinds = [k for k, _ in calls]
    assert kinds == ["fsync", "replace", "fsync"], calls
    tmp = calls[1][1]
    assert Path(tmp).parent == tmp_path.resolve() and Path(tmp).name.startswith(".a.txt.")
    assert calls[0][1] == tmp  # the file that is renamed is the one that was synced
    assert calls[2][1] == str(tmp_path.resolve())  # then the folder holding the new name


def test_a_writer_that_fails_leaves_nothing_and_syncs_nothing(tmp_path, monkeypatch):
    calls = _calls(monkeypatch)
    try:
        with io.atomic_path(tmp_path / "b.bin") as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("writer failed")
    except RuntimeError:
        pass
    assert calls == [] and list(tmp_path.iterdir()) == []
