"""Options shared by several commands, each defined once here."""
import argparse
import os

from ..config import CONFIGS, DEFAULT_CONFIG, default_config
from ..evaluation.results import AP_FORMS, DISTANCES, GALLERY_MODES

#: The evaluation section of the packaged defaults (configs/default.yaml),
#: where the protocol options of `benchmark` and `visualize` take their defaults.
PACKAGED_EVALUATION = default_config().evaluation
#: The configs --config takes by name besides the recipes: configs/*.yaml but the defaults.
PACKAGED_CONFIGS = sorted(name[:-len(".yaml")] for name in os.listdir(CONFIGS)
                          if name.endswith(".yaml") and name != os.path.basename(DEFAULT_CONFIG))


def add_overrides(parser, config_name, example="train.epochs=10"):
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help=f"dotted config keys over {config_name}, YAML values: {example}")


def add_config(parser):
    parser.add_argument("--config", metavar="YAML",
                        help="config file over the packaged defaults (cosam_reid/configs/default.yaml), or the "
                             f"name of a packaged config ({', '.join(PACKAGED_CONFIGS)}) or recipe "
                             "(table2_cross_dataset/mars_to_dukemtmc_cosam45)")


def add_root(parser, default="data"):
    """--root; default None leaves the option out of args when not given."""
    parser.add_argument("--root", default=_default(default),
                        help="folder holding the datasets" + _shown(default))


def add_dataset(parser, default="synthetic"):
    """--dataset; default None leaves the option out of args when not given."""
    parser.add_argument("--dataset", default=_default(default),
                        help="dataset name: mars, dukemtmc-videoreid, ilids-vid, prid2011, synthetic"
                             + _shown(default))


def add_protocol(parser, defaults=PACKAGED_EVALUATION, average_precision=True):
    """--gallery-mode, --distance and (with average_precision) --ap, whose
    values Protocol.from_options(args) reads; their defaults are those of
    defaults (by default the packaged config's evaluation section); defaults
    None leaves each out of args when not given."""
    parser.add_argument("--gallery-mode", choices=sorted(GALLERY_MODES),
                        default=_default(defaults and defaults.gallery_mode),
                        help="torchreid: non-query test tracklets; official: the query set added (MARS)"
                             + _shown(defaults and defaults.gallery_mode))
    parser.add_argument("--distance", choices=sorted(DISTANCES), default=_default(defaults and defaults.distance),
                        help="squared Euclidean or cosine" + _shown(defaults and defaults.distance))
    if average_precision:
        parser.add_argument("--ap", dest="average_precision", choices=sorted(AP_FORMS),
                            default=_default(defaults and defaults.average_precision),
                            help="average-precision form" + _shown(defaults and defaults.average_precision))


def add_workers(parser, default=0):
    """--workers; default None leaves the option out of args when not given."""
    parser.add_argument("--workers", type=int, default=_default(default),
                        help="frame-loading processes, at most one per available core" + _shown(default))


def _default(value):
    return argparse.SUPPRESS if value is None else value


def _shown(value):
    return "" if value is None else f" (default: {value})"
