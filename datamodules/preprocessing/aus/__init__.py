"""Action-Unit intensities estimated from face-mesh geometry (no learned AU model).

Pipeline: mesh ``points (T, P, 3)`` -> similarity Procrustes onto our canonical face
(:mod:`.procrustes`, :mod:`.frontal`) -> per-AU geometric measures (:mod:`.measures`) ->
per-video neutral baseline and documented gains -> OpenFace-style ``AUxx_r`` / ``AUxx_c``
(:mod:`.intensity`), optionally through a fitted linear map (:mod:`.calibration`).

These are estimates from geometry, not FACS coding.
"""

from datamodules.preprocessing.aus.calibration import AUCalibration, CalibrationError, fit_calibration
from datamodules.preprocessing.aus.intensity import AU_NAMES, au_features, estimate_aus
from datamodules.preprocessing.aus.pose import head_pose

__all__ = ["AU_NAMES", "AUCalibration", "CalibrationError", "au_features", "estimate_aus", "fit_calibration", "head_pose"]
