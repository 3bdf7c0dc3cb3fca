"""ImageNet weights for the backbone from a local file, in the key layout of
torchvision, timm or Cadene's pretrainedmodels. Nothing is downloaded.

torchvision and timm name a ResNet as this project does (conv1, bn1,
layerX.Y..., downsample.0/1, timm's SE convs se.fc1/se.fc2; the classifier
`fc` has no counterpart here and is skipped). Cadene's SE-ResNet wraps the stem
in layer0, names the SE convs se_module.fc1/fc2 and the classifier last_linear.
"""
import dataclasses
from typing import List, Tuple

import torch

WEIGHT_LAYOUTS = ("torchvision", "timm", "cadene")

#: Cadene name prefix or infix -> this project's.
CADENE_RENAMES = (
    ("layer0.conv1.", "conv1."),
    ("layer0.bn1.", "bn1."),
    (".se_module.", ".se."),
    ("last_linear.", "fc."),
)


@dataclasses.dataclass
class WeightsReport:
    path: str
    layout: str
    loaded: List[str]
    #: In the file, not in the backbone (classifier heads, SE convs into a plain ResNet).
    unexpected: List[str]
    #: (name, shape in file, shape in backbone).
    mismatched: List[Tuple[str, tuple, tuple]]
    #: In the backbone, not in the file: left as initialised.
    missing: List[str]

    def __str__(self):
        lines = [f"ImageNet weights {self.path} ({self.layout} layout): loaded {len(self.loaded)} tensors"]
        if self.unexpected:
            lines.append(f"  skipped, not in the backbone ({len(self.unexpected)}): {', '.join(self.unexpected)}")
        for name, file_shape, model_shape in self.mismatched:
            lines.append(
                f"  skipped, shape mismatch: {name} is {file_shape} in the file, {model_shape} in the backbone"
            )
        if self.missing:
            lines.append(f"  not in the file, left initialised ({len(self.missing)}): {', '.join(self.missing)}")
        return "\n".join(lines)


def load_imagenet_weights(backbone, path, layout=None, log=print):
    """Loads what matches from the file at path into backbone (a ResNet); layout
    is detected when None. Logs and returns a WeightsReport."""
    state = _unwrap(torch.load(path, map_location="cpu", weights_only=True), path)
    if layout is None:
        layout = detect_layout(state, path)
    elif layout not in WEIGHT_LAYOUTS:
        raise ValueError(f"unknown weights layout {layout!r}; choose one of {WEIGHT_LAYOUTS}")
    if layout == "cadene":
        state = {_cadene_to_project(name): tensor for name, tensor in state.items()}

    own = backbone.state_dict()
    report = WeightsReport(str(path), layout, [], [], [], [])
    matching = {}
    for name, tensor in state.items():
        if name not in own:
            report.unexpected.append(name)
        elif tensor.shape != own[name].shape:
            report.mismatched.append((name, tuple(tensor.shape), tuple(own[name].shape)))
        else:
            matching[name] = tensor
            report.loaded.append(name)
    report.missing = [name for name in own if name not in state]
    if not matching:
        raise ValueError(
            f"no tensor of {path} ({layout} layout) fits the {backbone.architecture} backbone:\n{report}"
        )
    backbone.load_state_dict(matching, strict=False)
    log(str(report))
    return report


def detect_layout(state, path="<state_dict>"):
    names = set(state)
    if "layer0.conv1.weight" in names:
        return "cadene"
    if "conv1.weight" in names and any(name.startswith("layer1.") for name in names):
        # timm and torchvision share the names; only timm has SE-ResNets.
        return "timm" if any(".se." in name for name in names) else "torchvision"
    sample = ", ".join(sorted(names)[:6])
    raise ValueError(
        f"{path}: unknown weights layout. Expected torchvision/timm keys (conv1.weight, layer1.0.conv1.weight, ...) "
        f"or Cadene pretrainedmodels keys (layer0.conv1.weight, ...); the file has {len(names)} keys such as: {sample}"
    )


def _unwrap(loaded, path):
    """The state_dict inside a saved file: bare, or under "state_dict"/"model",
    with a DataParallel "module." prefix removed."""
    for key in ("state_dict", "model"):
        if isinstance(loaded, dict) and isinstance(loaded.get(key), dict):
            loaded = loaded[key]
    if not isinstance(loaded, dict) or not all(isinstance(value, torch.Tensor) for value in loaded.values()):
        raise ValueError(f"{path}: not a state_dict of tensors (got {type(loaded).__name__})")
    return {name.removeprefix("module."): tensor for name, tensor in loaded.items()}


def _cadene_to_project(name):
    for old, new in CADENE_RENAMES:
        if old.startswith("."):
            name = name.replace(old, new)
        elif name.startswith(old):
            name = new + name[len(old):]
    return name
