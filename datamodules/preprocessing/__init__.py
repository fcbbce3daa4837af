"""Pre-processing of raw videos into per-frame face data (landmarks, crops), and of landmark
sequences into model inputs.

Modules (imported on demand, so that this package pulls in no heavy dependency):

* :mod:`~datamodules.preprocessing.face_models`, :mod:`~datamodules.preprocessing.face_mesh` --
  MediaPipe face detection and 468-point face mesh on video frames;
* :mod:`~datamodules.preprocessing.normalize` -- per-video landmark normalisation (centre,
  inter-ocular scale, rigid alignment to the video's mean shape);
* :mod:`~datamodules.preprocessing.pseudo_images` -- landmark pseudo-images (per-frame resized
  ``P x 3`` matrices as in the seed, or ``(3, T, P)`` time x landmark images);
* :mod:`~datamodules.preprocessing.openface_layout` -- mesh frames in OpenFace 2.x's CSV layout
  (68 iBUG points mapped from the mesh, pose, AUs); :mod:`~datamodules.preprocessing.sharding` --
  ``--shard K/N`` for job arrays.
"""
