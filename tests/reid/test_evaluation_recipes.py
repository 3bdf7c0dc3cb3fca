"""The paper's recipes: every file parses and names valid datasets, model
settings and evaluation protocols; every table of the supplementary is covered."""
import glob
import os

import pytest
import yaml

import cosam_reid
from cosam_reid.datasets.registry import SPLIT_COUNTS, canonical_name
from cosam_reid.evaluation import Protocol
from cosam_reid.evaluation.features import SAMPLINGS

RECIPES = os.path.join(os.path.dirname(cosam_reid.__file__), "configs", "recipes")
FILES = sorted(glob.glob(os.path.join(RECIPES, "*", "*.yaml")))


def load(path):
    with open(path) as file:
        return yaml.safe_load(file)


def test_every_table_has_its_runs():
    per_table = {}
    for path in FILES:
        per_table.setdefault(os.path.basename(os.path.dirname(path)).split("_")[0], []).append(path)
    assert {table: len(paths) for table, paths in per_table.items()} == {
        "table1": 4, "table2": 4, "table3": 6, "table4": 36, "table5": 2}


@pytest.mark.parametrize("path", FILES, ids=lambda path: os.path.relpath(path, RECIPES))
def test_recipe_is_valid(path):
    recipe = load(path)
    model, data, evaluation = recipe["model"], recipe["data"], recipe["evaluation"]
    assert model["backbone"] in ("resnet50", "se_resnet50")
    assert set(model["cosam_blocks"]) <= {2, 3, 4, 5}
    assert model["attention"] in ("both", "spatial", "channel")
    assert data["sampling"] in ("sequential", "random") and data["num_frames"] == 4
    for dataset, options in ((data["dataset"], data["dataset_options"]),
                             (evaluation["dataset"], evaluation["dataset_options"])):
        name = canonical_name(dataset)
        assert ("split_id" in options) == (name in SPLIT_COUNTS)
    assert evaluation["average_splits"] == (canonical_name(evaluation["dataset"]) in SPLIT_COUNTS)
    Protocol(gallery_mode=evaluation["gallery_mode"], distance=evaluation["distance"],
             average_precision=evaluation["average_precision"])
    assert evaluation["sampling"] in SAMPLINGS
    assert recipe["train"]["output_dir"].endswith(os.path.splitext(os.path.basename(path))[0])


def test_table2_tests_on_the_other_dataset():
    for path in glob.glob(os.path.join(RECIPES, "table2_*", "*.yaml")):
        recipe = load(path)
        assert recipe["data"]["dataset"] != recipe["evaluation"]["dataset"]
