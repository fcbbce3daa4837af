#!/usr/bin/env bash
# The wheels a lent GPU machine needs for scripts/gpu_benchmarks.sh, fetched here (that machine reaches no
# registry): the packages of facedep's GPU measurements that the machine's image lacks, for its CPython
# 3.12 on x86-64 Linux, plus aeon 1.6.0 (the ROCKET / MiniRocket reference) without its pinned numpy/numba.
#
#   bash scripts/device_kit.sh [DIR]        # default .whl (gitignored); about 21 MB
#
# Then carry DIR with the device call (`carry: [".whl"]`); `gpu_benchmarks.sh` installs it first (step
# `kit`: pip --no-index --no-deps into $KIT, put on PYTHONPATH), so nothing is resolved or fetched there.
# DEVICE_IMAGE lists what that image already holds (the device tool's KINDS.md, "Python packages already
# there", read 2026-11-17); a wheel of one of those is dropped, so the image's torch, numpy, numba, pandas,
# opencv and timm are the ones used. aeon is installed without its dependency pins (numba < 0.64,
# numpy < 2.5): it runs on newer ones (checked with numba 0.68.1, numpy 2.4.6, pandas 3.1.1: features
# bit-identical to ours, `benchmark.py rocket`).
set -euo pipefail
DIR=${1:-.whl}
PY=${PYTHON:-python3}
PYVER=${DEVICE_PYTHON_VERSION:-3.12}
# the versions facedep's tests run with (pyproject.toml's floors, pinned for a reproducible kit)
PACKAGES=("albumentations==2.0.8" "jsonargparse[signatures,omegaconf]==4.53.0" "omegaconf==2.4.0" "optuna==5.1.0")
AEON=("aeon==1.6.0" "deprecated==1.3.1")
DEVICE_IMAGE="absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build
certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core
cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock
flatbuffers flax fonttools formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx
huggingface-hub humanize hypothesis idna imageio interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib
jaxtyping jinja2 joblib kiwisolver lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml
markdown markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict
multipledispatch mypy-extensions nanobind narwhals networkx ninja numba numba-cuda numpy numpyro nvidia-cublas
nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile
nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13 nvidia-ml-py nvidia-nccl-cu13
nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript opencv-python-headless
optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy peft pillow pip
pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments
pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout
pytest-xdist python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors
scikit-build-core scikit-image scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools
shellingham simplejson six sortedcontainers statsmodels sympy tabulate tensorboard tensorboard-data-server
tensorstore threadpoolctl tifffile tiktoken timm tokenizers toolz torch torchaudio torchdiffeq torch-geometric
torchmetrics torchvision tqdm transformers treescope triton typer typing-extensions typing-inspect urllib3
uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp"
TARGET=(--only-binary=:all: --python-version "$PYVER" --implementation cp --platform manylinux2014_x86_64
        --platform manylinux_2_17_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_28_x86_64)

rm -rf "$DIR"
mkdir -p "$DIR/aeon"
$PY -m pip download -q "${TARGET[@]}" -d "$DIR" "${PACKAGES[@]}"
$PY -m pip download -q "${TARGET[@]}" --no-deps -d "$DIR/aeon" "${AEON[@]}"
project() {  # the normalised project name of a wheel file
    basename "$1" | cut -d- -f1 | tr 'A-Z_.' 'a-z--'
}
for wheel in "$DIR"/*.whl; do
    if [[ " $(echo $DEVICE_IMAGE) " == *" $(project "$wheel") "* ]]; then rm "$wheel"; fi
done
echo "$PYVER" >"$DIR/PYTHON"  # the kit step installs only into this Python version
(cd "$DIR" && sha256sum ./*.whl aeon/*.whl PYTHON >SHA256SUMS)
echo "$(ls "$DIR"/*.whl "$DIR"/aeon/*.whl | wc -l) wheels, $(du -sh "$DIR" | cut -f1) in $DIR:"
ls "$DIR" "$DIR/aeon" | grep whl | sed 's/^/  /'
