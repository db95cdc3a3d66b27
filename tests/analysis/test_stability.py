"""Stability analysis: worst-case perturbations, Lipschitz constants, noise sweeps, the command."""

from __future__ import annotations

import json

import torch

import inverselab as il
from inverselab.analysis.stability import local_lipschitz, noise_sweep, worst_case
from inverselab.cli import main
from inverselab.operators import fbp


def test_worst_case_reaches_the_bound_of_a_linear_map():
    # fn(y) = 2 y reconstructs x = 2 y exactly; the error under ||delta|| <= eps ||y|| is at most 2 eps ||y||
    y = torch.randn(4, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    r = worst_case(lambda v: 2 * v, y, 2 * y, eps=0.1, steps=5, data_range=1.0)
    found = (2 * r["delta"]).norm(dim=1)
    assert torch.allclose(found, 0.2 * y.norm(dim=1), rtol=1e-6)
    assert all(w < b for w, b in zip(r["psnr_worst"], r["psnr"]))


def test_local_lipschitz_of_a_matrix_is_its_largest_singular_value():
    M = torch.randn(6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    L = local_lipschitz(lambda v: v @ M.T, torch.randn(3, 5, dtype=torch.float64), iters=60)
    assert torch.allclose(L, torch.linalg.matrix_norm(M, ord=2).expand(3), rtol=1e-4)


def test_noise_sweep_psnr_falls_with_the_noise():
    p = il.make_problem("ct-parallel", size=32, views=20)
    sweep = noise_sweep(p, {"fbp": lambda y: fbp(p.operator, y, filter="hann")}, [0.01, 0.1, 0.3], n=6)
    assert sweep["fbp"][0] > sweep["fbp"][1] > sweep["fbp"][2]


def test_stability_command_compares_the_network_with_baseline_and_tv(tmp_path):
    run = tmp_path / "unet"
    assert main(["train", "ct-parallel", "--set", "size=32", "--model", "unet", "--option", "width=8", "--epochs", "1",
                 "--steps-per-epoch", "5", "--n", "4", "--out", str(run)]) == 0
    assert main(["stability", str(run), "--n", "6", "--n-attack", "2", "--steps", "2", "--tv-iters", "30"]) == 0
    m = json.loads((run / "stability.json").read_text())
    assert set(m["sweep"]) == {"baseline", "tv", "unet"} and len(m["levels"]) == 4
    for name in m["sweep"]:
        assert all(m["worst_case"][name][e]["drop"] >= 0 for e in ("0.01", "0.05"))
        assert m["worst_case"][name]["0.05"]["drop"] >= m["worst_case"][name]["0.01"]["drop"] - 0.05
    assert (run / "figures" / "stability.png").is_file()
