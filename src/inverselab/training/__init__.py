"""Training: one loop (:class:`Trainer`) for every learned method, its losses, data sources,
schedules (curriculum, multi-task), checkpoints and distributed set-up."""

from .checkpoint import latest_checkpoint, load_checkpoint, load_weights, save_checkpoint, save_weights
from .data import Batch, HDF5Pairs, OnTheFly, generate_hdf5
from .loss import LOSSES, Loss, make_loss, register_loss
from .losses import MeasurementConsistency, Supervised
from .tasks import Curriculum, MultiTask, SingleTask, Task, make_task
from .trainer import Trainer, TrainingConfig

__all__ = [
    "LOSSES",
    "Loss",
    "register_loss",
    "Batch",
    "Curriculum",
    "HDF5Pairs",
    "MeasurementConsistency",
    "MultiTask",
    "OnTheFly",
    "SingleTask",
    "Supervised",
    "Task",
    "Trainer",
    "TrainingConfig",
    "generate_hdf5",
    "latest_checkpoint",
    "load_checkpoint",
    "load_weights",
    "make_loss",
    "make_task",
    "save_checkpoint",
    "save_weights",
]
