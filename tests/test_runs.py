"""Result files: atomic writes with ordinary permissions, nothing left behind on failure."""

from __future__ import annotations

import json

import pytest

from inverselab.runs import write_json_atomic


def test_atomic_write_has_the_permissions_of_an_ordinary_file(tmp_path):
    ordinary = tmp_path / "ordinary.json"
    ordinary.write_text("{}")
    path = write_json_atomic(tmp_path / "result.json", {"psnr": 30.0})
    assert json.loads(path.read_text()) == {"psnr": 30.0}
    assert path.stat().st_mode == ordinary.stat().st_mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ordinary.json", "result.json"]


def test_failed_write_keeps_the_previous_result(tmp_path):
    path = write_json_atomic(tmp_path / "result.json", {"psnr": 30.0})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"bad": object()})
    assert json.loads(path.read_text()) == {"psnr": 30.0}
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]
