"""NumPy versions of the three MediaPipe custom TFLite ops used by the attention face mesh.

``face_landmark_with_attention.tflite`` crops lips and eye regions out of a feature map with ops
that LiteRT does not ship. They follow the semantics of MediaPipe's C++ kernels
(``mediapipe/util/tflite/operations/``, version 2 of each op):

* :func:`landmarks_to_transform_matrix` -- a ``(1, 4, 4)`` matrix mapping the pixels of an
  ``output_width x output_height`` crop to landmark space: the crop is centred on the box of a
  landmark subset (measured in a frame rotated so that two reference landmarks are level),
  rotated with it and enlarged by ``scale_x``/``scale_y``;
* :func:`transform_tensor_bilinear` -- samples a ``(1, H, W, C)`` tensor at the matrix-mapped
  centres of the output pixels (bilinear, zero outside);
* :func:`transform_landmarks` -- applies the matrix's 2D affine part to ``(1, N, 2|3)`` landmarks
  (``z`` kept).

:data:`CUSTOM_OPS` maps the op names found in the model to these functions, each called as
``op(inputs, options)`` with ``options`` the op's decoded flexbuffer map.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

CustomOp = Callable[[Sequence[np.ndarray], Mapping[str, Any]], np.ndarray]


def _rotation(angle: float) -> np.ndarray:
    """2x2 counter-clockwise rotation (in image coordinates: x right, y down)."""
    cos, sin = math.cos(angle), math.sin(angle)
    return np.array([[cos, -sin], [sin, cos]])


def crop_matrix(centre: tuple[float, float], size: tuple[float, float], rotation: float,
                output_size: tuple[int, int]) -> np.ndarray:
    """``(4, 4)`` matrix: shift(centre) . rotate(rotation) . scale(size / output_size) . shift(-output_size / 2).

    >>> crop_matrix((10.0, 20.0), (8.0, 4.0), 0.0, (16, 16)) @ [8, 8, 0, 1]  # crop centre -> centre
    array([10., 20.,  0.,  1.])
    """
    matrix = np.eye(4)
    matrix[:2, :2] = _rotation(rotation) @ np.diag([size[0] / output_size[0], size[1] / output_size[1]])
    matrix[:2, 3] = np.asarray(centre) - matrix[:2, :2] @ (np.asarray(output_size, dtype=np.float64) / 2.0)
    return matrix


def landmarks_to_transform_matrix(inputs: Sequence[np.ndarray], options: Mapping[str, Any]) -> np.ndarray:
    """``Landmarks2TransformMatrix`` v2: landmarks ``(1, N, 3)`` -> crop matrix ``(1, 4, 4)``.

    Options: ``left_rotation_idx``, ``right_rotation_idx``, ``target_rotation_radians``,
    ``subset_idxs`` (the landmarks framing the crop), ``scale_x``, ``scale_y``, ``output_width``,
    ``output_height``. The subset is rotated by ``r = target - atan2(right - left)``, its box
    measured there, and the box centre rotated back; the crop turns by ``-r``.
    """
    points = np.asarray(inputs[0], dtype=np.float64).reshape(-1, 3)[:, :2]
    left, right = points[int(options["left_rotation_idx"])], points[int(options["right_rotation_idx"])]
    rotation = float(options.get("target_rotation_radians", 0.0)) - math.atan2(right[1] - left[1], right[0] - left[0])
    subset = points[np.asarray(options["subset_idxs"], dtype=np.int64)]
    rotated = subset @ _rotation(rotation).T
    low, high = rotated.min(axis=0), rotated.max(axis=0)
    centre = _rotation(-rotation) @ ((low + high) / 2.0)
    width, height = int(options["output_width"]), int(options["output_height"])
    size = (float(options["scale_x"]) * (high[0] - low[0]), float(options["scale_y"]) * (high[1] - low[1]))
    return crop_matrix((centre[0], centre[1]), size, -rotation, (width, height)).astype(np.float32)[None]


def transform_tensor_bilinear(inputs: Sequence[np.ndarray], options: Mapping[str, Any]) -> np.ndarray:
    """``TransformTensorBilinear`` v2: sample ``(1, H, W, C)`` at matrix-mapped pixel centres -> ``(1, h, w, C)``.

    Output pixel ``(x, y)`` reads input position ``M @ (x + 0.5, y + 0.5) - 0.5`` (the "align
    corners" correction), bilinearly; positions outside ``[0, W-1] x [0, H-1]`` give 0.
    """
    tensor = np.asarray(inputs[0], dtype=np.float32)[0]
    matrix = np.asarray(inputs[1], dtype=np.float64).reshape(4, 4)
    height, width = tensor.shape[:2]
    out_h, out_w = int(options["output_height"]), int(options["output_width"])
    grid_y, grid_x = np.meshgrid(np.arange(out_h) + 0.5, np.arange(out_w) + 0.5, indexing="ij")
    src_x = matrix[0, 0] * grid_x + matrix[0, 1] * grid_y + matrix[0, 3] - 0.5
    src_y = matrix[1, 0] * grid_x + matrix[1, 1] * grid_y + matrix[1, 3] - 0.5
    inside = (src_x >= 0) & (src_x <= width - 1) & (src_y >= 0) & (src_y <= height - 1)
    x0, y0 = np.floor(src_x).astype(np.int64), np.floor(src_y).astype(np.int64)
    fx, fy = (src_x - x0)[..., None], (src_y - y0)[..., None]
    padded = np.pad(tensor, ((0, 1), (0, 1), (0, 0)))  # reads one past the last row/column give 0
    x0c, y0c = np.clip(x0, 0, width - 1), np.clip(y0, 0, height - 1)
    top = (1 - fx) * padded[y0c, x0c] + fx * padded[y0c, x0c + 1]
    bottom = (1 - fx) * padded[y0c + 1, x0c] + fx * padded[y0c + 1, x0c + 1]
    result = np.where(inside[..., None], (1 - fy) * top + fy * bottom, 0.0)
    return result.astype(np.float32)[None]


def transform_landmarks(inputs: Sequence[np.ndarray], options: Mapping[str, Any]) -> np.ndarray:
    """``TransformLandmarks`` v2: ``(1, N, D)`` landmarks (D = 2 or 3) through the matrix's affine part.

    >>> m = np.eye(4, dtype=np.float32)[None]; m[0, 0, 3] = 5.0
    >>> transform_landmarks([np.array([[[1.0, 2.0]]]), m], {}).tolist()
    [[[6.0, 2.0]]]
    """
    points = np.asarray(inputs[0], dtype=np.float64)
    matrix = np.asarray(inputs[1], dtype=np.float64).reshape(4, 4)
    result = points.copy()
    result[..., :2] = points[..., :2] @ matrix[:2, :2].T + matrix[:2, 3]
    return result.astype(np.float32)


#: Custom op name (as stored in the model) -> NumPy implementation.
CUSTOM_OPS: dict[str, CustomOp] = {
    "Landmarks2TransformMatrix": landmarks_to_transform_matrix,
    "TransformTensorBilinear": transform_tensor_bilinear,
    "TransformLandmarks": transform_landmarks,
}
