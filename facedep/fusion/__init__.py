"""Multimodal fusion (issue #18). Late fusion: per-view models' out-of-fold subject scores stacked by logistic
regression (classes) or ridge (scores), with the stacker fitted on outer-training subjects only.

- :mod:`facedep.fusion.stacking`: the stacker (features, imputation of a missing view, coefficients), pure.
- :mod:`facedep.fusion.submanifest`: a manifest of some subjects only (the inner CV's data).
- :mod:`facedep.fusion.inner`: one view's inner CV on the outer training subjects -> out-of-fold scores.
- :mod:`facedep.fusion.runs`: what is read from a finished run folder.
- :mod:`facedep.fusion.late`: the fold runner and :func:`facedep.fusion.late.late_fusion_cv`.
- :mod:`facedep.fusion.report`: the report's "## Late fusion" section.

Example:
    >>> from facedep.fusion.late import late_fusion_cv  # doctest: +SKIP
    >>> late_fusion_cv({"a": ["--config", "configs/demo.yaml"]}, folds=5, root=Path("runs"))  # doctest: +SKIP
"""
