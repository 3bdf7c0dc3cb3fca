"""Importing cosam_reid without the "reid" extra says which extra to install."""
import subprocess
import sys

import pytest

import cosam_reid


@pytest.mark.parametrize("module", sorted(cosam_reid.REID_DEPENDENCIES))
def test_a_missing_dependency_names_the_extra(module):
    # A None entry in sys.modules is how Python marks a module as not importable.
    code = f"import sys; sys.modules[{module!r}] = None; import cosam_reid"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert result.returncode == 1
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("ImportError: cosam_reid needs ")
    assert cosam_reid.REID_DEPENDENCIES[module] in last_line and "pip install cosam_ext[reid]" in last_line
