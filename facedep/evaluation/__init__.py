"""Evaluation: classification metrics, bootstrap CIs, prediction tables, cross-validation reports."""
