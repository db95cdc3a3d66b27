"""A small CT problem shared by the training tests."""

from __future__ import annotations

import pytest

import inverselab as il


@pytest.fixture(scope="module")
def problem():
    return il.make_problem("ct-parallel", size=32, views=12)
