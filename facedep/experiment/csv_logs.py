"""CSV loggers whose folder is the run folder (``trainer.log_dir == run_dir``).

The run folder already holds files when the CSV logger starts (``wandb/``, ``config.yaml``, ...), so
Lightning's "Experiment logs directory ... exists and is not empty" would be printed for every fresh run;
these writers only speak about ``metrics.csv`` itself.
"""

from __future__ import annotations

import csv

from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.loggers.logger import rank_zero_experiment
from pytorch_lightning.utilities import rank_zero_warn


class _RunFolderExperimentWriter(ExperimentWriter):
    """Lightning's CSV writer: an earlier ``metrics.csv`` is deleted (with a warning), other files are the run's own."""

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            rank_zero_warn(f"{self.metrics_file_path} of an earlier run is replaced (--run.resume true continues a run).")
            self._fs.rm_file(self.metrics_file_path)


class _AppendingExperimentWriter(ExperimentWriter):
    """Lightning's CSV writer, but an existing ``metrics.csv`` is kept and appended to.

    Lightning's writer deletes ``metrics.csv`` when it starts; here its header becomes the known
    columns, so new rows are appended (and a new column rewrites the file with the old rows kept).
    """

    def _check_log_dir_exists(self) -> None:
        if not self._fs.isfile(self.metrics_file_path):
            return
        with self._fs.open(self.metrics_file_path, "r", newline="") as handle:
            self.metrics_keys = next(csv.reader(handle), [])


class RunFolderCSVLogger(CSVLogger):
    """CSVLogger for a fresh run in the run folder: replaces an earlier ``metrics.csv``, ignores the run's other files."""

    writer_class: type[ExperimentWriter] = _RunFolderExperimentWriter

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = self.writer_class(log_dir=self.log_dir)
        return self._experiment


class AppendingCSVLogger(RunFolderCSVLogger):
    """CSVLogger that appends to the run's ``metrics.csv`` (a resumed run keeps its earlier epochs)."""

    writer_class = _AppendingExperimentWriter
