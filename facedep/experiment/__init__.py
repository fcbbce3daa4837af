"""The experiment: command line (LightningCLI), training, cross-validation, model comparison, tracking,
resume, run privacy, callbacks."""
