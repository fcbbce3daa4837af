"""Face mesh landmarks (3D points per frame) from videos. See ``python scripts/extract_landmarks.py --help``.

``--model attention`` (default): MediaPipe's attention mesh, 478 points (refined lips and eyes, irises);
``--model mesh``: the plain 468-point mesh. The face is tracked from frame to frame as MediaPipe does.

Example:
    python scripts/extract_landmarks.py /data/videos --out /data/landmarks --stride 1 --threads 1 --model attention
"""

from __future__ import annotations

from datamodules.preprocessing.extract import main

if __name__ == "__main__":
    raise SystemExit(main())
