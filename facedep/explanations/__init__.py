"""Explanations of trained models on the fold's test subjects (never the training subjects' labels).

AU-sequence models (:class:`lightning_modules.SequenceClassifier`, :class:`lightning_modules.SequenceRegressor`
on :class:`datamodules.AUSequenceDataModule`):

- ``model_outputs.py``: which models are supported, batched no-grad window scores, the attributed output;
- ``subject_metric.py``: the subject-level metric the report uses (macro-F1 at the model's threshold, or MAE);
- ``channel_importance.py``: permutation importance of each AU channel on the test windows;
- ``temporal_attribution.py``: integrated gradients per frame and AU for one test video;
- ``plots.py``: bar chart with error bars, attribution heat map;
- ``run.py``: :func:`~facedep.explanations.run.explain_run`, what ``--run.explain true`` writes;
- ``summary.py``: importance over cross-validation folds (mean ± std), figure and report lines.
"""
