import os
import random
import sys

import numpy as np
import pytest
import torch

# tests import their helpers as `from testing import ...`.
sys.path.insert(0, os.path.dirname(__file__))

from hypothesis import settings  # noqa: E402

# Every run explores the same examples, so that a failure reproduces;
# `pytest --hypothesis-profile=explore` draws new ones.
settings.register_profile("deterministic", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile("deterministic")

#: The seed of torch's, numpy's and Python's global generators at the start
#: of every test module and every test: each test draws the same inputs
#: whichever tests ran before it. COSAM_TEST_SEED=n draws other ones.
SEED = int(os.environ.get("COSAM_TEST_SEED", "0"))


def seed_global_generators():
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)  # every device's


@pytest.fixture(autouse=True, scope="module")
def _seeded_module():
    """Before the module's own module-scoped fixtures (autouse ones come first)."""
    seed_global_generators()


@pytest.fixture(autouse=True)
def _seeded_test():
    seed_global_generators()
