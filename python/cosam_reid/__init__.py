"""cosam_reid: video person re-identification around cosam_ext.CosamLayer.

Models (backbones with COSAM after any blocks, temporal pooling), losses,
samplers, the training engine, datasets, evaluation and pictures; pure Python
on top of the compiled op library. Its dependencies beyond torch and numpy
come with the "reid" extra: pip install cosam_ext[reid].
"""
import importlib.util

#: Modules the re-ID stack imports beyond torch and numpy, and their distributions.
REID_DEPENDENCIES = {"scipy": "scipy", "PIL": "Pillow", "tqdm": "tqdm", "yaml": "PyYAML",
                     "matplotlib": "matplotlib"}


def _missing_dependencies():
    return [distribution for module, distribution in REID_DEPENDENCIES.items()
            if importlib.util.find_spec(module) is None]


if _missing_dependencies():
    raise ImportError(f"cosam_reid needs {', '.join(_missing_dependencies())}, which cosam_ext alone does not "
                      "install: pip install cosam_ext[reid]")
