"""MediaPipe's attention face mesh: 478 points (468 with refined lips and eyes, plus 10 iris points).

``face_landmark_with_attention.tflite`` (from the mediapipe 0.10.21 wheel, see
:func:`~datamodules.preprocessing.face_models.ensure_attention_model`) takes the same 192x192 RGB
crop in [0, 1] as the plain mesh and returns the 468-point mesh plus sub-meshes for the lips
(80 points), each eye with its surroundings (71) and each iris (5), all in crop pixels. Its
custom ops run through :class:`~datamodules.preprocessing.tflite_graph.SegmentedModel` and
:mod:`~datamodules.preprocessing.mediapipe_ops`.

The points are merged as MediaPipe's ``LandmarksRefinementCalculator`` does in
``tensors_to_face_landmarks_with_attention.pbtxt``: the sub-mesh ``x, y`` replace the mesh points
listed in :data:`LIPS_REFINEMENT`, :data:`LEFT_EYE_REFINEMENT`, :data:`RIGHT_EYE_REFINEMENT`
(their ``z`` is kept); the irises become points 468-472 (:data:`LEFT_IRIS`, on the eye of mesh
point 33) and 473-477 (:data:`RIGHT_IRIS`, eye of point 263), each with the mean ``z`` of its eye's
16 contour points. "Left"/"right" are MediaPipe's names (the subject's right eye is MediaPipe's
"left", on the image's left).

Example:
    >>> mesh = AttentionMesh(ensure_attention_model())  # doctest: +SKIP
    >>> mesh(rgb, roi).points.shape  # roi = (cx, cy, side, angle) in pixels  # doctest: +SKIP
    (478, 3)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from datamodules.preprocessing.face_mesh import MESH_SIZE, NUM_LANDMARKS, FaceLandmarks, crop_roi, crop_to_image, sigmoid
from datamodules.preprocessing.face_models import verify_model
from datamodules.preprocessing.mediapipe_ops import CUSTOM_OPS
from datamodules.preprocessing.tflite_graph import SegmentedModel

NUM_REFINED_LANDMARKS = 478

#: Mesh indices replaced by the 80 lip points (outer, inner, semi-outer, semi-inner contours).
LIPS_REFINEMENT = (
    61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 185, 40, 39, 37, 0, 267, 269, 270, 409,
    78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 191, 80, 81, 82, 13, 312, 311, 310, 415,
    76, 77, 90, 180, 85, 16, 315, 404, 320, 307, 306, 184, 74, 73, 72, 11, 302, 303, 304, 408,
    62, 96, 89, 179, 86, 15, 316, 403, 319, 325, 292, 183, 42, 41, 38, 12, 268, 271, 272, 407,
)
#: Mesh indices replaced by the 71 points of MediaPipe's "left" eye (lids first, then halos, brow).
LEFT_EYE_REFINEMENT = (
    33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173,
    130, 25, 110, 24, 23, 22, 26, 112, 243, 247, 30, 29, 27, 28, 56, 190,
    226, 31, 228, 229, 230, 231, 232, 233, 244, 113, 225, 224, 223, 222, 221, 189,
    35, 124, 46, 53, 52, 65, 143, 111, 117, 118, 119, 120, 121, 128, 245, 156, 70, 63, 105, 66, 107, 55, 193,
)
#: Mesh indices replaced by the 71 points of MediaPipe's "right" eye.
RIGHT_EYE_REFINEMENT = (
    263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398,
    359, 255, 339, 254, 253, 252, 256, 341, 463, 467, 260, 259, 257, 258, 286, 414,
    446, 261, 448, 449, 450, 451, 452, 453, 464, 342, 445, 444, 443, 442, 441, 413,
    265, 353, 276, 283, 282, 295, 372, 340, 346, 347, 348, 349, 350, 357, 465, 383, 300, 293, 334, 296, 336, 285, 417,
)
#: Iris points (centre, right, top, left, bottom edge).
LEFT_IRIS = (468, 469, 470, 471, 472)
RIGHT_IRIS = (473, 474, 475, 476, 477)
#: The eye contour (16 points) whose mean z each iris takes.
LEFT_EYE_CONTOUR = LEFT_EYE_REFINEMENT[:16]
RIGHT_EYE_CONTOUR = RIGHT_EYE_REFINEMENT[:16]

OUTPUTS = ("output_mesh_identity", "output_lips", "output_left_eye", "output_right_eye",
           "output_left_iris", "output_right_iris", "conv_faceflag")


def refine_landmarks(mesh: np.ndarray, lips: np.ndarray, left_eye: np.ndarray, right_eye: np.ndarray,
                     left_iris: np.ndarray, right_iris: np.ndarray) -> np.ndarray:
    """Merge the sub-meshes into the ``(468, 3)`` mesh -> ``(478, 3)`` (see the module docstring).

    >>> base = np.zeros((468, 3)); base[:, 2] = np.arange(468)
    >>> out = refine_landmarks(base, np.ones((80, 2)), np.ones((71, 2)), np.ones((71, 2)), np.ones((5, 2)), np.ones((5, 2)))
    >>> out.shape, out[61].tolist(), out[1].tolist()
    ((478, 3), [1.0, 1.0, 61.0], [0.0, 0.0, 1.0])
    """
    points = np.zeros((NUM_REFINED_LANDMARKS, 3), dtype=np.float64)
    points[:NUM_LANDMARKS] = mesh
    for indices, part in ((LIPS_REFINEMENT, lips), (LEFT_EYE_REFINEMENT, left_eye), (RIGHT_EYE_REFINEMENT, right_eye)):
        points[list(indices), :2] = np.asarray(part).reshape(-1, 2)
    for indices, part, contour in ((LEFT_IRIS, left_iris, LEFT_EYE_CONTOUR), (RIGHT_IRIS, right_iris, RIGHT_EYE_CONTOUR)):
        points[list(indices), :2] = np.asarray(part).reshape(-1, 2)
        points[list(indices), 2] = mesh[list(contour), 2].mean()
    return points


class AttentionMesh:
    """The attention face-mesh model; call with an RGB image and a crop ``roi`` ``(cx, cy, side, angle)``.

    Raises :class:`~datamodules.preprocessing.face_models.FaceModelError` naming the file when its
    SHA-256 is not the recorded one (``verify=False`` skips the check, e.g. for another version).
    """

    num_points = NUM_REFINED_LANDMARKS

    def __init__(self, model_path: str | Path, num_threads: int = 1, verify: bool = True) -> None:
        if verify:
            verify_model(model_path)
        self.model = SegmentedModel(model_path, CUSTOM_OPS, num_threads=num_threads)
        missing = [name for name in OUTPUTS if name not in self.model.names.values()]
        if missing:
            raise ValueError(f"{model_path}: not an attention face mesh (no output(s) {missing})")

    def raw(self, patch: np.ndarray) -> dict[str, np.ndarray]:
        """Model outputs by name for a ``192x192x3`` RGB ``uint8`` crop."""
        return self.model.run({"input_1": patch.astype(np.float32)[None] / 255.0})

    def __call__(self, image: np.ndarray, roi: tuple[float, float, float, float]) -> FaceLandmarks:
        """478 landmarks in image pixels (z scaled like x) and the face-presence probability."""
        patch, matrix = crop_roi(image, roi, MESH_SIZE)
        out = self.raw(patch)
        crop_points = refine_landmarks(
            out["output_mesh_identity"].reshape(-1, 3)[:NUM_LANDMARKS], out["output_lips"], out["output_left_eye"],
            out["output_right_eye"], out["output_left_iris"], out["output_right_iris"])
        presence = float(sigmoid(out["conv_faceflag"].reshape(-1))[-1])
        return FaceLandmarks(crop_to_image(crop_points, matrix, roi), presence, roi)

    def at_roi(self, image: np.ndarray, roi: tuple[float, float, float, float]) -> FaceLandmarks:
        """Same as calling the model (the interface of :meth:`FaceMesh.at_roi`)."""
        return self(image, roi)
