"""Shared fixtures: real-data location, devices, deterministic threads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(min(2, torch.get_num_threads()))

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("INVERSELAB_DATA", REPO.parent / "shared" / "data"))

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def data_file(*parts: str) -> Path:
    """Path of a real-data file; skips the test when it is absent."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path}")
    return path


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    return request.param
