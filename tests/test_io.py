"""Atomic writes: nothing half-written on failure, and files readable like any other."""

import os

import pytest

from memrepro import io


def test_atomic_write_leaves_nothing_on_failure_and_uses_the_umask(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError), io.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    old = os.umask(0o022)
    try:
        io.write_json(target, {"a": 1})
    finally:
        os.umask(old)
    assert io.read_json(target) == {"a": 1}
    assert target.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600: shared results
