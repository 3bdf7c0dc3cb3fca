"""Datasets by name: `build_dataset("mars", "/data")`."""
from typing import Callable, Dict

from .dukemtmc_videoreid import load_dukemtmc_videoreid
from .ilidsvid import load_ilidsvid
from .mars import load_mars
from .prid2011 import load_prid2011
from .synthetic import load_synthetic

LOADERS: Dict[str, Callable] = {
    "mars": load_mars,
    "dukemtmc-videoreid": load_dukemtmc_videoreid,
    "ilids-vid": load_ilidsvid,
    "prid2011": load_prid2011,
    "synthetic": load_synthetic,
}
# Spellings in use elsewhere (torchreid's names among them).
ALIASES = {"dukemtmcvidreid": "dukemtmc-videoreid", "duke-video": "dukemtmc-videoreid",
           "ilidsvid": "ilids-vid", "prid": "prid2011"}


def canonical_name(name: str) -> str:
    key = name.lower().replace("_", "-")
    key = ALIASES.get(key, key)
    if key not in LOADERS:
        raise KeyError(f"unknown dataset {name!r}; available: {', '.join(sorted(LOADERS))}")
    return key


def build_dataset(name: str, root, **options):
    """Load dataset `name` from `root` (the folder holding mars/, ilids-vid/...,
    as in torchreid). Options go to the loader: split_id for iLIDS-VID and
    PRID2011, verbose for all, the generator's settings for synthetic."""
    return LOADERS[canonical_name(name)](root, **options)


# Datasets evaluated as the mean over their fixed train/test splits.
SPLIT_COUNTS = {"ilids-vid": 10, "prid2011": 10}


def split_ids(name: str):
    """The split ids a full evaluation of `name` averages over ([None]: no splits)."""
    return list(range(SPLIT_COUNTS[canonical_name(name)])) if canonical_name(name) in SPLIT_COUNTS else [None]
