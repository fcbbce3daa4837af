"""Explanations of trained models on the fold's test subjects (never the training subjects' labels).

What ``--run.explain true`` writes depends on the run (:mod:`facedep.explanations.run` dispatches):

- AU-sequence models (``SequenceClassifier`` / ``SequenceRegressor`` on ``AUSequenceDataModule``):
  ``channel_importance.py`` (permutation importance of each AU on the test windows) and
  ``temporal_attribution.py`` (integrated gradients per frame and AU for one test video);
- landmark models (``LandmarkDataModule`` pseudo-images): ``region_importance.py``, permutation importance of the
  face regions of ``landmark_regions.py`` (68-point iBUG ranges; a documented grouping of the 468/478-point meshes)
  on the points before they are rendered; for one unlabelled video (``predict.py --explain``) the change of its
  score when a region is frozen;
- face-image models (``FaceImageDataModule``): ``grad_cam.py``, Grad-CAM on the last convolution (a
  ``HybridAttentionNet``: its own CLS attention) over a few test faces;
- fusion models (``MultimodalDataModule`` + ``MultimodalClassifier`` / ``MultimodalRegressor``):
  ``view_contribution.py`` (metric drop when a view is masked, attention received, AU channels and landmark regions
  within their views) on ``fusion_inputs.py`` (the test windows, scores with masked views).

Shared: ``permutation.py`` (occlusion importance of groups of inputs), ``subject_metric.py`` (the subject-level
metric the report uses: macro-F1 at the model's threshold with the log-loss, or MAE), ``model_outputs.py``
(batched no-grad scores, the attributed output), ``plots.py``, ``writers.py`` (the files of each kind of run),
``errors.py`` (:class:`~facedep.explanations.errors.Unsupported`). Over cross-validation folds: ``summary.py``
(the report's ``## Explanations``; AU channels), ``summary_views.py`` (regions, views, Grad-CAM figures),
``fold_tables.py`` (mean ± std over folds).
"""
