"""Video re-ID datasets in the layouts torchreid users have on disk, each
loaded into a VideoReIDDataset (train pids relabelled, query and gallery
with their original pids, 0-based cameras), and the built-in synthetic
dataset, generated in the MARS layout."""
from .common import DatasetFormatError, format_statistics
from .dukemtmc_videoreid import load_dukemtmc_videoreid
from .ilidsvid import load_ilidsvid
from .mars import load_mars
from .prid2011 import load_prid2011
from .registry import LOADERS, build_dataset, canonical_name, split_ids
from .synthetic import SyntheticConfig, load_synthetic

__all__ = ["DatasetFormatError", "LOADERS", "SyntheticConfig", "build_dataset", "canonical_name",
           "format_statistics", "load_dukemtmc_videoreid", "load_ilidsvid", "load_mars", "load_prid2011",
           "load_synthetic", "split_ids"]
