"""Face mesh landmarks (468 3D points per frame) from videos. See ``python scripts/extract_landmarks.py --help``.

Example:
    python scripts/extract_landmarks.py /data/videos --out /data/landmarks --stride 1 --threads 1
"""

from __future__ import annotations

from datamodules.preprocessing.extract import main

if __name__ == "__main__":
    raise SystemExit(main())
