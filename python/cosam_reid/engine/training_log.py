"""Per-step training metrics: a CSV file, and TensorBoard when it is installed."""
import csv
import os

COLUMNS = ("epoch", "step", "global_step", "loss", "cross_entropy", "triplet", "accuracy", "lr")
METRICS_NAME = "metrics.csv"


class MetricsLog:
    """Appends one row per step to output_dir/metrics.csv. Opened for a run
    resumed at global step n, it first drops the rows after n (steps the
    interrupted run logged past its last checkpoint, which will be redone)."""

    def __init__(self, output_dir, resume_step=0):
        self.path = os.path.join(output_dir, METRICS_NAME)
        kept = []
        if os.path.exists(self.path):
            with open(self.path, newline="") as file:
                kept = [row for row in csv.DictReader(file) if int(row["global_step"]) <= resume_step]
        self._file = open(self.path, "w", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=COLUMNS)
        self._writer.writeheader()
        self._writer.writerows(kept)
        self._file.flush()
        self._tensorboard = _tensorboard_writer(output_dir)

    def log(self, row):
        self._writer.writerow({column: _text(row[column]) for column in COLUMNS})
        self._file.flush()
        if self._tensorboard is not None:
            for column in COLUMNS[3:]:
                self._tensorboard.add_scalar(f"train/{column}", row[column], row["global_step"])

    def close(self):
        self._file.close()
        if self._tensorboard is not None:
            self._tensorboard.close()


def read_metrics(output_dir):
    with open(os.path.join(output_dir, METRICS_NAME), newline="") as file:
        return list(csv.DictReader(file))


def _text(value):
    # repr round-trips floats exactly, so resumed and uninterrupted logs compare equal.
    return repr(value) if isinstance(value, float) else value


def _tensorboard_writer(output_dir):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(os.path.join(output_dir, "tensorboard"))
