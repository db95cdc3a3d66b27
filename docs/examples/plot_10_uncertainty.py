"""
Uncertainty and calibration
===========================

A network trained with dropout gives a predictive distribution by keeping dropout active at
test time (Monte Carlo dropout): the mean of the draws is the estimate, their spread an
uncertainty. Whether that spread means anything is checked by *coverage*: the share of true
pixel values inside the central 90 % interval should be 90 %. Raw MC-dropout intervals are
usually too narrow; one scale factor on the standard deviation, fitted on validation data,
repairs the calibration of the test data.

The same tools score deep ensembles (``inverselab.uq.ensemble``) and the draws of a
conditional generator (``generator_samples``); ``inverselab evaluate RUN --uq dropout`` writes
the maps and the calibration curve of a trained run.
"""

# %%
import matplotlib.pyplot as plt
import torch

import inverselab as il
from inverselab.models import build_model
from inverselab.training import Trainer
from inverselab.uq import LEVELS, calibration_curve, coverage, fit_scale, mc_dropout

problem = il.make_problem("ct-parallel", size=48, views=30, noise=0.05)
torch.manual_seed(0)
net = build_model("unet", problem, width=8, depth=2, dropout=0.1)
Trainer(net, problem, batch_size=8, steps_per_epoch=50, val_size=8, lr=3e-3).fit(epochs=3)

# %%
# Predictions on validation and test data
# ---------------------------------------
# Validation truths come from the training stream (seeds the test split never uses).
x_val = problem.sample_truth(16, seed=1000, split="train")
y_val = problem.simulate(x_val, seed=1001).float()
x_test, y_test = problem.test_data(16, seed=0)
val = mc_dropout(net, y_val, samples=16)
test = mc_dropout(net, y_test.float(), samples=16)
scale = fit_scale(val, x_val.float(), level=0.9)
raw = float(coverage(test, x_test.float(), level=0.9).mean())
calibrated = float(coverage(test, x_test.float(), level=0.9, scale=scale).mean())
print(f"PSNR of the mean {float(il.metrics.psnr(test.mean, x_test, data_range=1.0)):.2f} dB")
print(f"90 % coverage on test: raw {raw:.1%}, after scaling the std by {scale:.2f}: {calibrated:.1%}")

# %%
# Calibration curves
# ------------------
fig, ax = plt.subplots(figsize=(4, 4))
ax.plot(LEVELS, LEVELS, "k:", label="ideal")
ax.plot(LEVELS, calibration_curve(test, x_test.float()), "o-", label="raw")
ax.plot(LEVELS, calibration_curve(test, x_test.float(), scale=scale), "s-", label=f"std x {scale:.2f}")
ax.set(xlabel="nominal level", ylabel="coverage", aspect="equal")
ax.legend()
fig.tight_layout()

# %%
# Uncertainty beside the error
# ----------------------------
# Where the network errs (edges, small ellipses), its draws disagree most.
fig, axes = plt.subplots(1, 4, figsize=(11, 2.9))
panels = [("truth", x_test[0, 0], "gray"), ("mean of 16 draws", test.mean[0, 0], "gray"),
          ("|error|", (test.mean - x_test)[0, 0].abs(), "magma"), ("std x scale", scale * test.std[0, 0], "magma")]
for ax, (title, img, cmap) in zip(axes, panels):
    ax.imshow(img.detach(), cmap=cmap)
    ax.set_title(title)
    ax.axis("off")
fig.tight_layout()
