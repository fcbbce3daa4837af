"""Hyper-parameter search on Optuna that never sees the outer test subjects (see scripts/tune.py)."""
