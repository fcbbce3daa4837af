"""Shared tooling of facedep: command line, tracking, cross-validation and reports."""
