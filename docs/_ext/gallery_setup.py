"""Settings applied before each gallery example runs (``sphinx_gallery_conf["reset_modules"]``)."""

from __future__ import annotations


def one_thread(gallery_conf, fname, when=None) -> None:
    """Run each example on one torch thread, with a fixed seed.

    On a two-core machine shared with other jobs, two threads per operation spend their time
    waiting for each other; one thread keeps the examples' run times predictable.
    """
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
