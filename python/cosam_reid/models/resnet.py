"""ResNet18/34/50 and SE-ResNet50 backbones, written here so that the stack
needs no torchvision.

Parameter names follow torchvision (conv1, bn1, layer1..layer4, downsample.0/1;
the SE blocks' 1x1 convs are se.fc1/se.fc2 as in timm), so ImageNet weights in
those layouts load by name; see weights.py for the others.
"""
from torch import nn

#: name -> (block type, blocks per stage, squeeze-excitation)
ARCHITECTURES = {
    "resnet18": ("basic", (2, 2, 2, 2), False),
    "resnet34": ("basic", (3, 4, 6, 3), False),
    "resnet50": ("bottleneck", (3, 4, 6, 3), False),
    "se_resnet50": ("bottleneck", (3, 4, 6, 3), True),
}

STAGE_WIDTHS = (64, 128, 256, 512)
#: Squeeze-excitation reduction ratio of SE-ResNet.
SE_REDUCTION = 16


class SqueezeExcitation(nn.Module):
    def __init__(self, channels, reduction=SE_REDUCTION):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, kernel_size=1)
        self.fc2 = nn.Conv2d(channels // reduction, channels, kernel_size=1)

    def forward(self, x):
        scale = self.fc2(self.fc1(x.mean(dim=(2, 3), keepdim=True)).relu()).sigmoid()
        return x * scale


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_channels, width, stride, squeeze_excitation):
        super().__init__()
        out_channels = width * self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.se = SqueezeExcitation(out_channels) if squeeze_excitation else None
        self.downsample = _shortcut(in_channels, out_channels, stride)

    def forward(self, x):
        out = self.bn1(self.conv1(x)).relu()
        out = self.bn2(self.conv2(out))
        if self.se is not None:
            out = self.se(out)
        identity = x if self.downsample is None else self.downsample(x)
        return (out + identity).relu()


class Bottleneck(nn.Module):
    """The torchvision (v1.5) bottleneck: the stride sits on the 3x3 conv."""

    expansion = 4

    def __init__(self, in_channels, width, stride, squeeze_excitation):
        super().__init__()
        out_channels = width * self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.se = SqueezeExcitation(out_channels) if squeeze_excitation else None
        self.downsample = _shortcut(in_channels, out_channels, stride)

    def forward(self, x):
        out = self.bn1(self.conv1(x)).relu()
        out = self.bn2(self.conv2(out)).relu()
        out = self.bn3(self.conv3(out))
        if self.se is not None:
            out = self.se(out)
        identity = x if self.downsample is None else self.downsample(x)
        return (out + identity).relu()


def _shortcut(in_channels, out_channels, stride):
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
        nn.BatchNorm2d(out_channels),
    )


class ResNet(nn.Module):
    """The convolutional trunk: stem (CNN block 1) and layer1..layer4 (CNN
    blocks 2..5 in the COSAM paper's numbering); no pooling, no classifier."""

    def __init__(self, architecture, last_stride=2):
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise ValueError(f"unknown backbone {architecture!r}; choose one of {sorted(ARCHITECTURES)}")
        if last_stride not in (1, 2):
            raise ValueError(f"last_stride must be 1 or 2, got {last_stride!r}")
        block_type, depths, squeeze_excitation = ARCHITECTURES[architecture]
        block = BasicBlock if block_type == "basic" else Bottleneck
        self.architecture = architecture
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.stage_strides = (1, 2, 2, last_stride)
        self.stage_channels = tuple(width * block.expansion for width in STAGE_WIDTHS)
        in_channels = 64
        for index, (width, depth, stride) in enumerate(zip(STAGE_WIDTHS, depths, self.stage_strides)):
            blocks = []
            for position in range(depth):
                blocks.append(block(in_channels, width, stride if position == 0 else 1, squeeze_excitation))
                in_channels = width * block.expansion
            setattr(self, f"layer{index + 1}", nn.Sequential(*blocks))
        self.out_channels = in_channels
        self._initialise()

    def _initialise(self):
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    @property
    def stages(self):
        return (self.layer1, self.layer2, self.layer3, self.layer4)

    def stem(self, x):
        return self.maxpool(self.bn1(self.conv1(x)).relu())

    def stage_map_sizes(self, input_size):
        """(H, W) of the maps after layer1..layer4 for an input of input_size."""
        height, width = (_conv_output(_conv_output(side, 7, 2, 3), 3, 2, 1) for side in input_size)
        sizes = []
        for stride in self.stage_strides:
            # The 3x3 conv (padding 1) and the 1x1 shortcut (padding 0) agree.
            height, width = _conv_output(height, 3, stride, 1), _conv_output(width, 3, stride, 1)
            sizes.append((height, width))
        return tuple(sizes)


def _conv_output(size, kernel, stride, padding):
    return (size + 2 * padding - kernel) // stride + 1
