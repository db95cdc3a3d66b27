"""
Training without ground truth
=============================

When only measurements exist, a network can still be trained through the forward model. The
*measurement consistency* loss ``0.5 ||F(f(y)) - y||^2`` fixes the estimate where the data see
it; in inpainting that is every kept pixel, and nothing forces the network to fill in the
missing ones. *Equivariant imaging* (Chen, Tachella and Davies, 2021) adds one requirement:
the images are invariant under circular shifts and the mask is not, so the network must
commute with shifts, ``f(F(T x)) = T x``, and that pins down the missing pixels.

Both networks below see the same simulated measurements and no truth; the truths are used only
to score them. Ten seconds of training each show the difference; the benchmark on the
results pages trains for twenty minutes.
"""

# %%
import matplotlib.pyplot as plt
import torch

import inverselab as il
from inverselab.models import build_model
from inverselab.training import Trainer, make_loss

problem = il.make_problem("inpaint", size=48, fraction=0.5, noise=0.01)
x, y = problem.test_data(8, seed=0)

losses = {
    "measurement consistency": make_loss("consistency", lam=0.0),
    "equivariant imaging": make_loss("equivariant", transform="shift"),
}
networks, curves = {}, {}
for name, loss in losses.items():
    torch.manual_seed(0)
    net = build_model("unet", problem, width=8, depth=2)
    trainer = Trainer(net, problem, loss=loss, batch_size=8, steps_per_epoch=30, val_size=8, lr=3e-3)
    curves[name] = trainer.fit(epochs=4)
    networks[name] = net.eval()

# %%
# Scores on held-out images
# -------------------------
with torch.no_grad():
    estimates = {"baseline": problem.baseline(y)}
    estimates.update({name: net(y.float()) for name, net in networks.items()})
for name, est in estimates.items():
    print(f"{name:25s} {float(il.metrics.psnr(est, x, data_range=1.0)):.2f} dB")

fig, axes = plt.subplots(1, 4, figsize=(11, 3))
panels = [("measured (half the pixels)", y), *estimates.items()]
panels = [panels[0], ("truth", x), *list(estimates.items())[1:]]
for ax, (title, img) in zip(axes, panels):
    ax.imshow(img[1, 0].detach().clamp(0, 1), cmap="gray", vmin=0, vmax=1)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
fig.tight_layout()

# %%
# Without truths, validation uses the data misfit
# -----------------------------------------------
# The trainer validates on held-out measurements; with truths at hand (here, for the plot) it
# would report the PSNR instead.
fig, ax = plt.subplots(figsize=(5, 3))
for name, log in curves.items():
    key = "val_psnr" if "val_psnr" in log[0] else "val_misfit"
    ax.plot([row["step"] for row in log], [row[key] for row in log], "o-", label=name)
ax.set(xlabel="training step", ylabel=key)
ax.legend()
fig.tight_layout()
