"""What every inference entry point shares: the user-facing error, checkpoint reading, class import, device."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

# torch and the checkpoint loader are imported where used: the video extractors' worker processes
# (extract_aus.py --workers) need only PredictError from here, and importing torch costs each of them ~1.2 s.

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})


class PredictError(Exception):
    """A user-facing error: printed as ``error: ...`` and exit code 2."""


@dataclass
class CheckpointFile:
    """A checkpoint read from disk, with its model and DataModule hyper-parameters."""

    path: Path
    data: dict[str, Any]

    @property
    def hparams(self) -> dict[str, Any]:
        return dict(self.data.get("hyper_parameters") or {})

    @property
    def dm_hparams(self) -> dict[str, Any]:
        return dict(self.data.get("datamodule_hyper_parameters") or {})


def read_checkpoint(ckpt: str | Path | CheckpointFile, what: str = "checkpoint",
                    error: type[PredictError] = PredictError) -> CheckpointFile:
    """Read ``ckpt`` once, safely (:func:`facedep.inference.checkpoints.load_checkpoint`); an already read one is returned as is.

    A missing, unreadable or unsafe file raises ``error`` naming it.
    """
    from facedep.inference.checkpoints import load_checkpoint

    if isinstance(ckpt, CheckpointFile):
        return ckpt
    return CheckpointFile(Path(ckpt), load_checkpoint(ckpt, what, error))


def import_class(path: str, ckpt: str | Path = "checkpoint", base: type | None = None, where: str = "class path") -> type:
    """``"package.module.Class"`` -> the class, only from this project's allow-listed modules
    (:func:`facedep.inference.checkpoints.import_allowed`); PredictError naming ``ckpt`` and ``where`` else."""
    from facedep.inference.checkpoints import import_allowed

    return import_allowed(path, ckpt, where, base, PredictError)


def pick_device(name: str) -> torch.device:
    """``cpu`` or ``cuda`` (error when CUDA is not available)."""
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise PredictError("--device cuda: CUDA is not available on this machine")
    return torch.device(name)
