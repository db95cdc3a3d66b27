"""
CT: filtered back-projection, total variation and a trained U-Net
=================================================================

Parallel-beam CT of random-ellipse phantoms from 30 views with 5 % noise. Filtered
back-projection (FBP) is instant but streaky; total variation (TV) by PDHG removes the streaks;
a U-Net after FBP, trained on simulated pairs, learns to do the same in one pass. The network
here trains for a few seconds only, so it is far from converged: the point is the workflow,
which is the same for any preset and any model.
"""

# %%
# The problem
# -----------
# A problem is a forward operator, a noise model and a source of ground truths. Truths and
# measurements of the held-out test split never appear in training.
import matplotlib.pyplot as plt
import torch

import inverselab as il

torch.manual_seed(0)
problem = il.make_problem("ct-parallel", size=64, views=30, noise=0.05)
x, y = problem.test_data(8, seed=0)
print(problem.operator)
print("truths", tuple(x.shape), "sinograms", tuple(y.shape))

# %%
# Classical reconstructions
# -------------------------
# Every method returns the estimate and a :class:`~inverselab.solvers.History` with the time,
# the objective and (given the truth) the PSNR per iteration.
x_fbp, _ = il.reconstruct(problem, y, "fbp")
x_tv, history = il.reconstruct(problem, y, "tv", truth=x)
for name, est in [("FBP", x_fbp), ("TV", x_tv)]:
    print(f"{name:4s} PSNR {float(il.metrics.psnr(est, x, data_range=1.0)):.2f} dB")

# %%
# A U-Net after FBP
# -----------------
# :class:`~inverselab.training.Trainer` simulates training pairs on the fly (pair ``i`` comes
# from seed ``i`` of the training split) and validates on a fixed set. ``epochs`` times
# ``steps_per_epoch`` is the step budget; ``minutes=...`` gives a time budget instead.
from inverselab.models import build_model
from inverselab.training import Trainer

net = build_model("unet", problem, width=8, depth=2)
trainer = Trainer(net, problem, loss="supervised", batch_size=8, steps_per_epoch=50, val_size=8, lr=3e-3)
log = trainer.fit(epochs=4)
with torch.no_grad():
    x_net = net.eval()(y.float())
print(f"U-Net PSNR {float(il.metrics.psnr(x_net, x, data_range=1.0)):.2f} dB after {trainer.step} steps")

# %%
# Side by side
# ------------
images = {"truth": x, "FBP": x_fbp, "TV": x_tv, "U-Net (200 steps)": x_net}
fig, axes = plt.subplots(1, 4, figsize=(10, 2.8))
for ax, (title, img) in zip(axes, images.items()):
    ax.imshow(img[0, 0].detach(), cmap="gray", vmin=0, vmax=1)
    ax.set_title(title)
    ax.axis("off")
fig.tight_layout()

# %%
# TV's convergence and the network's training
# -------------------------------------------
fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3))
a.plot(history.psnr)
a.set(xlabel="PDHG iteration", ylabel="PSNR (dB)", title="TV")
b.plot([row["step"] for row in log], [row["val_psnr"] for row in log], "o-")
b.set(xlabel="training step", ylabel="validation PSNR (dB)", title="U-Net")
fig.tight_layout()
