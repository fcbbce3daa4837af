"""Inference: the safe checkpoint loader, prediction on images/videos/webcams (image and landmark
checkpoints), the AU bridge (video -> AU CSV) and the video -> AUs -> depression pipeline."""
