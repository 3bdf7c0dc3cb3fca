"""The synthetic dataset's settings as options, the same for every command
that takes them as flags (`synth`, `visualize`): one per SyntheticConfig
field, named by the field's flag. An option not given is not asked for: the
dataset on disk is used as it is (or, where there is none, written with the
defaults). Config-driven commands (`train`, `evaluate`, `demo`) take the
same settings as data.dataset_options.<field> and
evaluation.dataset_options.<field>."""
from ..datasets import canonical_name
from ..datasets.synthetic import SETTINGS, SyntheticConfig


def add_synthetic_options(parser):
    group = parser.add_argument_group(
        "synthetic dataset", "the generator's settings: a synthetic dataset already under --root is used as it is, "
                             "and refused if it was made with other settings than those given; where there is none, "
                             "one is written with them (the others at their defaults)")
    defaults = SyntheticConfig()
    for name, field in SETTINGS.items():
        default = getattr(defaults, name)
        pair = isinstance(default, tuple)
        kind = type(default[0]) if pair else float if default is None else type(default)
        shown = "as the difficulty" if default is None else " ".join(map(str, default)) if pair else default
        group.add_argument(field.metadata["flag"], dest=name, type=kind, nargs=2 if pair else None,
                           metavar=field.metadata["metavar"] or ("N" if kind is int else "X"), help=f"{field.metadata['help']} (default: {shown})")


def synthetic_options(args, dataset="synthetic") -> dict:
    """The settings given in args, as SyntheticConfig fields; an error when
    some are given for a dataset other than the synthetic one."""
    given = {name: getattr(args, name) for name in SETTINGS if getattr(args, name) is not None}
    if given and canonical_name(dataset) != "synthetic":
        flags = " ".join(SETTINGS[name].metadata["flag"] for name in given)
        raise ValueError(f"{flags}: settings of the synthetic dataset, not of {dataset}")
    return given
