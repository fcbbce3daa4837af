"""Inference: the safe checkpoint loader, prediction on images/videos/webcams (image and landmark
checkpoints), the AU bridge (video -> AU CSV), AU extraction in OpenFace's layout (extract_aus.py:
mesh geometry, an AU detector or OpenFace; au_backends.py) and the video -> AUs -> depression pipeline."""
