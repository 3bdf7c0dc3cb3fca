"""Training metrics: a CSV file, and TensorBoard when it is installed."""
import csv
import os

#: A step's row holds these after epoch, step and global_step.
STEP_COLUMNS = ("loss", "cross_entropy", "triplet", "accuracy", "lr")
#: An evaluation's row (train.eval_every) holds these after epoch and
#: global_step, and leaves step empty.
TEST_COLUMNS = ("mAP", "R1")
COLUMNS = ("epoch", "step", "global_step") + STEP_COLUMNS + TEST_COLUMNS
METRICS_NAME = "metrics.csv"


class MetricsLog:
    """Appends rows to output_dir/metrics.csv: one per step, one per
    evaluation. Opened for a run resumed at progress (a Progress), it first
    drops what the interrupted run logged past its last checkpoint, which
    will be redone: steps after progress.global_step, evaluations after
    progress.epoch."""

    def __init__(self, output_dir, progress):
        self.path = os.path.join(output_dir, METRICS_NAME)
        kept = []
        if os.path.exists(self.path):
            with open(self.path, newline="") as file:
                kept = [row for row in csv.DictReader(file) if _before(row, progress)]
        self._file = open(self.path, "w", newline="")
        # restval: rows of a log written before the evaluation columns existed.
        self._writer = csv.DictWriter(self._file, fieldnames=COLUMNS, restval="")
        self._writer.writeheader()
        self._writer.writerows(kept)
        self._file.flush()
        self._tensorboard = _tensorboard_writer(output_dir)

    def log(self, row):
        """row: epoch, global_step and either step and STEP_COLUMNS or TEST_COLUMNS."""
        self._writer.writerow({column: _text(value) for column, value in row.items()})
        self._file.flush()
        if self._tensorboard is not None:
            for column in STEP_COLUMNS + TEST_COLUMNS:
                if column in row:
                    group = "test" if column in TEST_COLUMNS else "train"
                    self._tensorboard.add_scalar(f"{group}/{column}", row[column], row["global_step"])

    def close(self):
        self._file.close()
        if self._tensorboard is not None:
            self._tensorboard.close()


def read_metrics(output_dir):
    with open(os.path.join(output_dir, METRICS_NAME), newline="") as file:
        return list(csv.DictReader(file))


def _before(row, progress):
    if row["step"]:
        return int(row["global_step"]) <= progress.global_step
    # An evaluation follows its epoch's last step, so a checkpoint written at
    # that step but before the evaluation (checkpoint_every) must not keep it.
    return int(row["epoch"]) <= progress.epoch


def _text(value):
    # repr round-trips floats exactly, so resumed and uninterrupted logs compare equal.
    return repr(value) if isinstance(value, float) else value


def _tensorboard_writer(output_dir):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(os.path.join(output_dir, "tensorboard"))
