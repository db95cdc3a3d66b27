"""Small batched tensor helpers shared by operators and solvers (internal)."""

from __future__ import annotations

import torch

from .errors import InputError

Tensor = torch.Tensor


def batch_dot(a: Tensor, b: Tensor) -> Tensor:
    """Real part of the per-sample inner product <a, b>, shape ``(B,)``."""
    prod = a.conj() * b if a.is_complex() or b.is_complex() else a * b
    return prod.reshape(a.shape[0], -1).sum(1).real


def batch_norm(a: Tensor) -> Tensor:
    """Per-sample Euclidean norm, shape ``(B,)``."""
    return torch.linalg.vector_norm(a.reshape(a.shape[0], -1), dim=1)


def per_sample(v: Tensor, like: Tensor) -> Tensor:
    """Reshape a ``(B,)`` tensor so it broadcasts against a ``(B, ...)`` tensor."""
    return v.reshape(-1, *([1] * (like.ndim - 1)))


def real_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for complex64/float32, float64 for complex128/float64."""
    return torch.empty((), dtype=dtype).real.dtype


def complex_dtype(dtype: torch.dtype) -> torch.dtype:
    """complex64 for float32/complex64, complex128 for float64/complex128."""
    return torch.complex128 if real_dtype(dtype) == torch.float64 else torch.complex64


def generator(seed: int | torch.Generator | None, device: torch.device | str = "cpu") -> torch.Generator:
    """A seeded ``torch.Generator`` on ``device``; passes generators through unchanged (they
    must live on the device type they will draw for)."""
    if isinstance(seed, torch.Generator):
        if seed.device.type != torch.device(device).type:
            raise InputError(
                f"a torch.Generator on {seed.device.type} cannot draw for {torch.device(device).type} "
                f"tensors; pass an integer seed or torch.Generator(device='{torch.device(device).type}')"
            )
        return seed
    g = torch.Generator(device=device)
    g.manual_seed(0 if seed is None else int(seed))
    return g


def numpy_boundary(method):
    """Decorate a method ``(self, x, *args, **kwargs)`` so that a numpy array ``x`` (and a numpy
    ``truth`` keyword) is taken as a tensor and tensors in the result come back as numpy arrays:
    numpy in, numpy out; torch in, torch out. A numpy call runs without autograd."""
    import functools

    import numpy as np

    def to_numpy(value):
        if isinstance(value, Tensor):
            return value.detach().cpu().numpy()
        if isinstance(value, tuple):
            return tuple(to_numpy(v) for v in value)
        return value

    @functools.wraps(method)
    def wrapper(self, x, *args, **kwargs):
        if not isinstance(x, np.ndarray):
            return method(self, x, *args, **kwargs)
        if isinstance(kwargs.get("truth"), np.ndarray):
            kwargs["truth"] = torch.from_numpy(np.ascontiguousarray(kwargs["truth"]))
        with torch.no_grad():
            out = method(self, torch.from_numpy(np.ascontiguousarray(x)), *args, **kwargs)
        return to_numpy(out)

    return wrapper


def check_device(device: str | torch.device | None) -> torch.device:
    """``device`` as a ``torch.device`` that exists here, or InputError naming the choices."""
    from .errors import InputError

    if device is None or device == "":
        raise InputError("no device given: use cpu (or cuda where a GPU is present)")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"unknown device {device!r}: use cpu, or cuda / cuda:N where a GPU is present") from None
    if dev.type == "meta":
        raise InputError("device meta holds no data: use cpu, or cuda where a GPU is present")
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InputError(f"device {device!r}: no CUDA GPU here (use cpu)")
        if dev.index is not None and dev.index >= count:
            raise InputError(f"device {device!r}: there are {count} CUDA GPUs (cuda:0 to cuda:{count - 1})")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"device {device!r}: MPS is not available here (use cpu)")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise InputError(f"device {device!r} is not supported: use cpu, cuda or mps")
    return dev
