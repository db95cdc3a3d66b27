"""
Stability: random noise, worst-case perturbations, Lipschitz constants
======================================================================

A reconstruction method is a map from measurements to images; how much its output moves when
the input moves decides whether it can be trusted. Three tests, for FBP, TV and a briefly
trained U-Net on the same CT problem:

* a **noise sweep**: mean PSNR at relative noise levels below and above the training noise;
* **worst-case perturbations** (Antun et al., 2020): projected gradient ascent on the error
  over perturbations with ``||delta|| <= eps ||y||``; TV keeps its graph
  (``tv_pdhg(..., differentiable=True)``) so the attack differentiates through the solver as
  through the network;
* the **local Lipschitz constant**: the largest singular value of the method's Jacobian at
  the measurement, by power iteration.

``inverselab stability RUN`` runs the same table for a trained run.
"""

# %%
import matplotlib.pyplot as plt
import torch

import inverselab as il
from inverselab.analysis import stability_table
from inverselab.models import build_model
from inverselab.operators import fbp
from inverselab.solvers import tv_pdhg
from inverselab.training import Trainer

problem = il.make_problem("ct-parallel", size=48, views=30, noise=0.05)
op = problem.operator
torch.manual_seed(0)
unet = build_model("unet", problem, width=8, depth=2)
Trainer(unet, problem, batch_size=8, steps_per_epoch=50, val_size=8, lr=3e-3).fit(epochs=3)
unet.eval()

methods = {
    "FBP": lambda y: fbp(op, y, filter="hann"),
    "TV": lambda y: tv_pdhg(op, y, lam=problem.methods["tv"]["lam"], iters=60, tol=0.0, differentiable=True)[0],
    "U-Net": lambda y: unet(y.float()),
}
levels, eps = (0.0125, 0.025, 0.05, 0.1), (0.01, 0.05)
result = stability_table(problem, methods, levels, eps, n_sweep=16, n_attack=4, steps=5)

# %%
# The table
# ---------
for name in methods:
    drops = ", ".join(f"eps {e}: {result['worst_case'][name][str(e)]['drop']:.2f} dB" for e in eps)
    print(f"{name:6s} worst-case drop {drops}; local Lipschitz {result['lipschitz'][name]:.3f}")

# %%
# PSNR against noise, and the worst-case drops
# --------------------------------------------
fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.3))
for name, values in result["sweep"].items():
    a.plot(levels, values, "o-", label=name)
a.axvline(problem.config["noise"], color="k", ls=":", lw=1)
a.set(xscale="log", xlabel="relative noise", ylabel="mean PSNR (dB)", title="noise sweep")
a.legend()
width = 0.25
for i, name in enumerate(methods):
    b.bar([j + i * width for j in range(len(eps))], [result["worst_case"][name][str(e)]["drop"] for e in eps],
          width, label=name)
b.set_xticks([j + width for j in range(len(eps))], [f"eps = {e}" for e in eps])
b.set(ylabel="PSNR drop (dB)", title="worst case found")
b.legend()
fig.tight_layout()
