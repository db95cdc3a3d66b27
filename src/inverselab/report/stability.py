"""The figure of a stability analysis (:func:`inverselab.analysis.stability_table`)."""

from __future__ import annotations

from .figures import pyplot, save_figure

__all__ = ["stability_figure"]


def stability_figure(path, result: dict, title: str = ""):
    """PSNR against noise level, and worst-case PSNR drops, one colour per method."""
    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    names = list(result["sweep"])
    for name in names:
        a.plot(result["levels"], result["sweep"][name], "o-", label=name)
    a.set(xscale="log", xlabel="relative noise level", ylabel="PSNR (dB)", title=title or "noise sweep")
    a.set_xticks(result["levels"], [f"{v:g}" for v in result["levels"]])
    a.minorticks_off()
    a.grid(alpha=0.3, which="both")
    a.legend(fontsize=8)
    width = 0.8 / max(1, len(result["eps"]))
    for k, e in enumerate(result["eps"]):
        b.bar([i + k * width for i in range(len(names))], [result["worst_case"][n][str(e)]["drop"] for n in names], width,
              label=f"eps = {e:g}")
    b.set_xticks([i + width * (len(result["eps"]) - 1) / 2 for i in range(len(names))], names, fontsize=8, rotation=20,
                 ha="right")
    b.set(ylabel="PSNR drop (dB)", title="worst-case perturbation, ||delta|| <= eps ||y||")
    b.legend(fontsize=8)
    return save_figure(fig, path)
