"""Video re-ID datasets in the layouts torchreid users have on disk, each
loaded into a VideoReIDDataset (train pids relabelled, query and gallery
with their original pids, 0-based cameras)."""
from .common import DatasetFormatError, format_statistics
from .dukemtmc_videoreid import load_dukemtmc_videoreid
from .ilidsvid import load_ilidsvid
from .mars import load_mars
from .prid2011 import load_prid2011
from .registry import LOADERS, build_dataset

__all__ = ["DatasetFormatError", "LOADERS", "build_dataset", "format_statistics", "load_dukemtmc_videoreid",
           "load_ilidsvid", "load_mars", "load_prid2011"]
