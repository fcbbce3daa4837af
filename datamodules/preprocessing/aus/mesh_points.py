"""Named MediaPipe face-mesh vertex indices used by the AU measures (468-point topology; 468-477 are irises).

"Right"/"left" are the subject's: the subject's right eye is on the image's left. Index numbers are
facts of the mesh topology (which vertex sits where), chosen by us by inspecting the mesh.
"""

from __future__ import annotations

NUM_MESH_POINTS = 468
NUM_ATTENTION_POINTS = 478

# Stable points for the rigid fit: forehead, nose bridge, nose, eye corners, temples.
STABLE_POINTS: tuple[int, ...] = (10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 33, 133, 362, 263, 127, 356, 234, 454)

FOREHEAD = 10
NOSE_BRIDGE = 168
NOSE_TIP = 1
SUBNASALE = 2
CHIN = 152

R_EYE_OUTER, R_EYE_INNER, L_EYE_INNER, L_EYE_OUTER = 33, 133, 362, 263
# Upper / lower eyelid points, paired top-bottom (mid, inner-mid, outer-mid).
R_UPPER_LID: tuple[int, ...] = (159, 158, 160)
R_LOWER_LID: tuple[int, ...] = (145, 153, 144)
L_UPPER_LID: tuple[int, ...] = (386, 385, 387)
L_LOWER_LID: tuple[int, ...] = (374, 380, 373)

R_INNER_BROW: tuple[int, ...] = (107, 66, 55, 65)
R_OUTER_BROW: tuple[int, ...] = (70, 63, 46, 53)
L_INNER_BROW: tuple[int, ...] = (336, 296, 285, 295)
L_OUTER_BROW: tuple[int, ...] = (300, 293, 276, 283)

R_CHEEK: tuple[int, ...] = (117, 118, 50, 101)
L_CHEEK: tuple[int, ...] = (346, 347, 280, 330)
R_ALA, L_ALA = 98, 327

R_MOUTH_CORNER, L_MOUTH_CORNER = 61, 291
UPPER_LIP_TOP, UPPER_LIP_INNER = 0, 13
LOWER_LIP_INNER, LOWER_LIP_BOTTOM = 14, 17
# Inner-lip pairs (upper, lower) across the mouth, for the lip gap.
INNER_LIP_PAIRS: tuple[tuple[int, int], ...] = ((13, 14), (82, 87), (312, 317))

# Points moved by the synthetic "planted movement" helpers in tests.
LOWER_FACE_JAW: tuple[int, ...] = (14, 87, 317, 17, 84, 314, 181, 405, 91, 321, 178, 402, 200, 199, 175, 152, 148, 377)
