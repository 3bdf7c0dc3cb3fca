import os
import sys

# tests import their helpers as `from testing import ...`.
sys.path.insert(0, os.path.dirname(__file__))

from hypothesis import settings  # noqa: E402

# CI explores the same examples on every run, so that a failure reproduces;
# locally each run draws new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
