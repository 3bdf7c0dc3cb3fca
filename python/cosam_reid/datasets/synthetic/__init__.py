"""The built-in synthetic video re-ID dataset: tracklets as a tracker's boxes
see them, written in the MARS layout with a silhouette and a clutter mask
beside every frame.

Each identity is a walking figure (figures); each camera a scene at the
people's scale with clutter in clothing colours, a ground plane and its own
optics (scene); a tracklet's box follows its walker through the scene, which
slides and zooms through the box, while passers-by, bystanders and objects
in the scene occlude (geometry, render). `difficulty` (0..1) scales the
camera differences, clutter, occlusion and box jitter; `clutter` and
`occlusion` (0..1, None: as difficulty) set those two apart (settings).
Everything is drawn from one seeded generator. writer lays the dataset out
as MARS, layout says where each frame's masks are, and dataset holds the
rule that no dataset is ever lost: only an explicit regenerate rewrites one.
"""
from .dataset import SyntheticDatasetMismatch, ensure_dataset, load_synthetic
from .layout import (CLUTTER_FOLDER, DATASET_FOLDER, SILHOUETTE_FOLDER, clutter_path, frame_has_silhouette,
                     load_clutter, load_silhouette, silhouette_path)
from .settings import GENERATOR_VERSION, MANIFEST, SETTINGS, SyntheticConfig
from .writer import generate

__all__ = ["CLUTTER_FOLDER", "DATASET_FOLDER", "GENERATOR_VERSION", "MANIFEST", "SETTINGS", "SILHOUETTE_FOLDER",
           "SyntheticConfig", "SyntheticDatasetMismatch", "clutter_path", "ensure_dataset", "frame_has_silhouette",
           "generate", "load_clutter", "load_silhouette", "load_synthetic", "silhouette_path"]
