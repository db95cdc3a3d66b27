"""Högbom CLEAN for radio-interferometric images.

CLEAN (Högbom 1974) models the sky as point components: it repeatedly finds the peak of the
residual dirty image, records ``gain`` times it as a component at that pixel and subtracts the
dirty beam centred there, until the peak falls below ``threshold`` or ``iters`` components
have been taken. The restored image convolves the components with a Gaussian *clean beam*
fitted to the dirty beam's main lobe and adds the residual. Here both are returned in
brightness per pixel (the units of the sky model): the clean beam has unit sum, and the
residual is divided by the clean beam's area in pixels.
"""

from __future__ import annotations

import math

import torch

from ..errors import InputError, check_count, check_positive
from .history import History, Monitor, prepare

Tensor = torch.Tensor

__all__ = ["hogbom_clean", "clean_beam"]


def clean_beam(psf: Tensor, size: int) -> Tensor:
    r"""Gaussian ``(size, size)`` with unit peak fitted to the main lobe of ``psf``.

    The lobe is the connected region about the centre where the beam exceeds one half; the
    quadratic form ``x' C^-1 x`` of the Gaussian is fitted by least squares to ``-2 ln psf``
    there (exact for a Gaussian lobe, whatever its size in pixels).

    Notes
    -----
    A Gaussian with unit peak satisfies :math:`-2 \ln G(\mathbf x) = \mathbf x^T C^{-1} \mathbf x`,
    so the three entries of :math:`C^{-1}` follow from linear least squares on the main-lobe pixels.

    References
    ----------
    A. R. Thompson, J. M. Moran and G. W. Swenson, *Interferometry and Synthesis in Radio
    Astronomy*, 3rd ed., ch. 11. Springer, 2017.
    """
    c = psf.shape[-1] // 2
    mask = (psf > 0.5).double()[None, None]
    region = torch.zeros_like(mask)
    region[..., c, c] = 1.0
    while True:
        grown = torch.nn.functional.max_pool2d(region, 3, 1, 1) * mask
        if torch.equal(grown, region):
            break
        region = grown
    rows, cols = torch.nonzero(region[0, 0], as_tuple=True)
    dy, dx = (rows - c).double(), (cols - c).double()
    design = torch.stack([dy * dy, 2 * dy * dx, dx * dx], dim=1)
    target = -2 * torch.log(psf[rows, cols].double())
    a, b, d = torch.linalg.lstsq(design, target[:, None], driver="gelsd").solution[:, 0].tolist()
    if not (a > 0 and d > 0 and a * d > b * b):  # too few pixels for a fit: a circular beam
        a = d = -2 * math.log(0.5)
        b = 0.0
    idx = torch.arange(size, dtype=torch.float64) - size // 2
    yy, xx = torch.meshgrid(idx, idx, indexing="ij")
    quad = a * yy**2 + 2 * b * yy * xx + d * xx**2
    return torch.exp(-0.5 * quad).to(psf.dtype)


def _convolve(images: Tensor, kernel: Tensor) -> Tensor:
    """Linear (zero-padded) convolution of ``(B, n, n)`` with a centred ``(n, n)`` kernel."""
    n = images.shape[-1]
    size = 2 * n
    spectrum = torch.fft.rfft2(images, s=(size, size)) * torch.fft.rfft2(kernel, s=(size, size))
    full = torch.fft.irfft2(spectrum, s=(size, size))
    start = n // 2
    return full[..., start : start + n, start : start + n]


def hogbom_clean(op, y: Tensor, gain: float = 0.1, threshold: float = 0.01, iters: int = 1000,
                 positive: bool = True, output: str = "restored", truth: Tensor | None = None,
                 data_range: float | None = None) -> tuple[Tensor, History]:
    r"""Högbom CLEAN of a batch of visibilities.

    Parameters
    ----------
    op : Interferometer
        The measurement operator (its ``dirty`` image and ``psf``).
    y : Tensor
        Visibilities ``(B, M)``, complex.
    gain : float
        Loop gain in (0, 1].
    threshold : float
        Stop when the residual peak falls below ``threshold`` times the dirty image's peak.
    iters : int
        Maximum number of components per image.
    positive : bool
        Take only positive peaks (a non-negative sky).
    output : {"restored", "model"}
        Restored image (components convolved with the clean beam plus the residual) or the
        components alone; brightness per pixel either way.
    truth, data_range
        For the final PSNR in the history.

    Returns
    -------
    image : Tensor
        ``(B, 1, n, n)``.
    history : History

    Notes
    -----
    Starting from the dirty image :math:`I_D = B * I + n` (the sky convolved with the dirty beam
    :math:`B`), each iteration finds the residual's peak :math:`(p, a)`, adds ``gain`` :math:`\cdot a`
    at :math:`p` to the model and subtracts ``gain`` :math:`\cdot a \cdot B(\cdot - p)` from the
    residual. The restored image convolves the model with the clean beam (a Gaussian fitted to the
    main lobe of :math:`B`) and adds the residual.

    References
    ----------
    J. A. Högbom, "Aperture synthesis with a non-regular distribution of interferometer
    baselines", *Astron. Astrophys. Suppl.* 15, 417-426, 1974.
    """
    if not 0 < gain <= 1:
        raise InputError(f"gain must be in (0, 1], got {gain}")
    check_positive("threshold", threshold)
    iters = check_count("iters", iters)
    if output not in ("restored", "model"):
        raise InputError(f"output must be 'restored' or 'model', got {output!r}")
    y = prepare(op, y, truth)
    n = op.size
    residual = op.dirty(y)[:, 0]
    psf = op.psf(2 * n, dtype=residual.dtype).to(residual.device)
    beam = clean_beam(psf, n).to(residual.device)
    area = float(beam.sum())
    model = torch.zeros_like(residual)
    peak0 = residual.flatten(1).abs().amax(1).clamp_min(torch.finfo(residual.dtype).tiny)
    # the monitor's relative-change rule becomes the threshold rule: criterion = largest
    # remaining peak relative to the dirty image's
    monitor = Monitor(iters, threshold)
    for k in range(iters):
        flat = residual.flatten(1) if positive else residual.flatten(1).abs()
        peak, where = flat.max(1)
        active = peak > threshold * peak0
        for i in torch.nonzero(active).flatten().tolist():
            r, c = divmod(int(where[i]), n)
            amount = gain * residual[i, r, c]
            model[i, r, c] += amount
            residual[i] -= amount * psf[n - r : 2 * n - r, n - c : 2 * n - c]
        if monitor.step(k, model, criterion=float((peak / peak0).max())):
            break
    image = (model if output == "model" else _convolve(model, beam / area) + residual / area)[:, None]
    if truth is not None:
        from ..metrics import psnr

        monitor.history.psnr.append(float(psnr(image, truth, data_range)))
    return image, monitor.history
