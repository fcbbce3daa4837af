"""Data side of facedep: format readers (``io``), the manifest, subject-level splits and DataModules.

DataModules are imported lazily so that readers and scripts do not pay for importing Lightning.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "AUSequenceDataModule": "datamodules.au_sequence",
    "AUFrameDataModule": "datamodules.au_frames",
    "LandmarkDataModule": "datamodules.landmarks",
    "FaceImageDataModule": "datamodules.images",
    "AUDetectionDataModule": "datamodules.au_detection",
    "HRMSequenceDataModule": "datamodules.hrm_sequences",
    "MultimodalDataModule": "datamodules.multimodal",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'datamodules' has no attribute {name!r}")
