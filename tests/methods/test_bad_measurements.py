"""Every method refuses non-finite or wrongly shaped measurements in one line, before solving."""

from __future__ import annotations

import pytest
import torch

import inverselab as il
from inverselab.errors import InputError
from inverselab.methods import available_methods

PROBLEMS = {"ct-parallel": {"size": 16, "views": 8}, "mri": {"size": 16}, "deblur": {"size": 16, "phantom": "ellipses"},
            "radio": {"size": 16}}
CASES = [(name, method) for name, over in PROBLEMS.items()
         for method in available_methods(il.make_problem(name, **over))]


@pytest.mark.parametrize("problem_name,method", CASES, ids=[f"{p}-{m}" for p, m in CASES])
def test_nan_inf_and_wrong_shapes_are_refused(problem_name, method):
    p = il.make_problem(problem_name, **PROBLEMS[problem_name])
    _, y = p.test_data(2, seed=0)
    for bad in (float("nan"), float("inf")):
        broken = y.clone().contiguous()
        broken.view(-1)[3] = bad
        with pytest.raises(InputError, match="NaN or infinite"):
            il.reconstruct(p, broken, method)
    with pytest.raises(InputError, match="expects measurement of shape"):
        il.reconstruct(p, y[..., :-1], method)
