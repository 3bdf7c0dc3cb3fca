import pytest
import torch

from cosam_reid.models import COSAM_BLOCKS, ResNet, load_imagenet_weights
from cosam_reid.models.weights import detect_layout
from reid_testing import TINY_FRAMES as FRAMES
from reid_testing import TINY_INPUT_SIZE as INPUT_SIZE
from reid_testing import random_clips as clips
from reid_testing import tiny_model


@pytest.mark.parametrize("blocks", [(2,), (3,), (4,), (5,), (2, 3, 4, 5)], ids=str)
def test_cosam_after_blocks_shapes_and_gradients(blocks):
    torch.manual_seed(0)
    model = tiny_model(cosam_blocks=blocks).train()
    assert sorted(model.cosam) == [f"block{block}" for block in blocks]
    output = model(clips())
    assert output.features.shape == (2, 512)
    assert output.logits.shape == (2, 7)
    (output.logits.sum() + output.features.pow(2).sum()).backward()
    for name, parameter in model.cosam.named_parameters():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 0, name


def test_resnet50_cosam_4_5_widths():
    model = tiny_model("resnet50", cosam_blocks=(4, 5))
    assert model.cosam["block4"].in_channels == 1024
    assert model.cosam["block5"].in_channels == 2048
    # Last stride 1: layer4 keeps layer3's 4x2 map at 64x32 input.
    assert model.cosam["block5"].spatial_size == (4, 2)
    model.eval()
    with torch.no_grad():
        assert model(clips(batch=1)).shape == (1, 2048)


def test_cosam_after_layer4_follows_the_last_stride():
    model = tiny_model(cosam_blocks=(5,), last_stride=2).train()
    assert model.cosam["block5"].spatial_size == (2, 1)
    assert model(clips()).logits.shape == (2, 7)


@pytest.mark.parametrize("last_stride", [1, 2])
@pytest.mark.parametrize("size", [(64, 32), (70, 30), (256, 128)], ids=str)
def test_stage_map_sizes_match_the_maps(last_stride, size):
    backbone = ResNet("resnet18", last_stride=last_stride).eval()
    maps = backbone.stem(torch.zeros(1, 3, *size))
    actual = []
    with torch.no_grad():
        for stage in backbone.stages:
            maps = stage(maps)
            actual.append(tuple(maps.shape[2:]))
    assert backbone.stage_map_sizes(size) == tuple(actual)


def test_temporal_attention_of_identical_frames_is_the_frame_feature():
    torch.manual_seed(0)
    model = tiny_model(temporal_pooling="attention").eval()
    frame = torch.randn(1, 1, 3, *INPUT_SIZE)
    average = tiny_model(temporal_pooling="avg").eval()
    average.backbone.load_state_dict(model.backbone.state_dict())
    with torch.no_grad():
        pooled = model(frame.expand(1, FRAMES, -1, -1, -1).contiguous())
        reference = average(frame.expand(1, FRAMES, -1, -1, -1).contiguous())
    torch.testing.assert_close(pooled, reference)


def test_temporal_attention_weights_frames_differently():
    torch.manual_seed(0)
    attention = tiny_model(temporal_pooling="attention").eval()
    average = tiny_model(temporal_pooling="avg").eval()
    average.backbone.load_state_dict(attention.backbone.state_dict())
    video = clips(batch=1)
    with torch.no_grad():
        assert not torch.allclose(attention(video), average(video))


def test_bn_neck_is_the_test_feature_and_off_by_default():
    torch.manual_seed(0)
    assert tiny_model().bn_neck is None
    model = tiny_model(bn_neck=True)
    assert not model.bn_neck.bias.requires_grad
    video = clips(batch=3)
    model.train()
    features = model(video).features
    model.eval()
    with torch.no_grad():
        expected = model.bn_neck(model.temporal_pooling(
            model.backbone.layer4(model.backbone.layer3(model.backbone.layer2(model.backbone.layer1(
                model.backbone.stem(video.flatten(0, 1)))))).unflatten(0, (3, FRAMES))))
        torch.testing.assert_close(model(video), expected)
    assert features.shape == expected.shape


def test_bad_input_is_named():
    model = tiny_model(cosam_blocks=(4,))
    with pytest.raises(ValueError, match="clip length num_frames=4"):
        model(clips(frames=3))
    with pytest.raises(ValueError, match="input_size=64x32"):
        model(clips(size=(128, 64)))
    with pytest.raises(ValueError, match=r"\(B, N, 3, H, W\)"):
        model(torch.randn(8, 3, *INPUT_SIZE))
    with pytest.raises(ValueError, match=r"cosam_blocks \[1\]"):
        tiny_model(cosam_blocks=(1, 4))
    with pytest.raises(ValueError, match="unknown backbone 'resnet101'"):
        tiny_model("resnet101")
    with pytest.raises(ValueError, match="last_stride"):
        tiny_model(last_stride=3)
    with pytest.raises(ValueError, match="unknown temporal_pooling 'max'"):
        tiny_model(temporal_pooling="max")
    assert COSAM_BLOCKS == (2, 3, 4, 5)


def test_cosam_options_reach_every_layer():
    torch.manual_seed(0)
    model = tiny_model(cosam_blocks=(3, 4, 5), summary_head="paper", reduced_channels=16,
                       implementation="reference").train()
    assert sorted(model.cosam) == ["block3", "block4", "block5"]
    for layer in model.cosam.values():
        assert (layer.summary_head, layer.reduced_channels, layer.implementation) == ("paper", 16, "reference")
        assert [type(module) for module in layer.spatial_mask_summary] == [torch.nn.Conv2d]
        assert layer.dim_reduction[0].out_channels == 16
    model(clips()).logits.sum().backward()
    default = tiny_model(cosam_blocks=(4,)).cosam["block4"]
    assert (default.summary_head, default.reduced_channels, default.implementation) == ("authors", 64, "fused")


@pytest.mark.parametrize("options, message", [
    ({"summary_head": "single"}, r"summary_head \(model.cosam.summary_head\) must be one of \('authors', 'paper'\), "
                                 r"got 'single'"),
    ({"implementation": "cuda"}, r"implementation \(model.cosam.implementation\) must be one of "
                                 r"\('fused', 'reference'\), got 'cuda'"),
    ({"reduced_channels": 0}, r"reduced_channels \(model.cosam.reduced_channels\) must be a positive number of "
                              r"channels, or None .* got 0"),
    ({"reduced_channels": 2.5}, r"reduced_channels .* got 2.5"),
    ({"reduced_channels": True}, r"reduced_channels .* got True"),
])
def test_bad_cosam_options_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        tiny_model(cosam_blocks=(5,), **options)


# Weight files in each layout, built from a project backbone by renaming.

def torchvision_layout(backbone):
    state = dict(backbone.state_dict())
    state["fc.weight"], state["fc.bias"] = torch.randn(1000, backbone.out_channels), torch.randn(1000)
    return state


def cadene_layout(backbone):
    state = {}
    for name, tensor in backbone.state_dict().items():
        if name.startswith(("conv1.", "bn1.")):
            name = "layer0." + name
        state[name.replace(".se.", ".se_module.")] = tensor
    state["last_linear.weight"], state["last_linear.bias"] = torch.randn(1000, 2048), torch.randn(1000)
    return state


LAYOUTS = {
    # name: (architecture, file state_dict from a source backbone, wrapping, expected head skipped)
    "torchvision-resnet50": ("resnet50", torchvision_layout, lambda s: s, "torchvision", "fc.weight"),
    "timm-resnet50": ("resnet50", torchvision_layout, lambda s: {"state_dict": s}, "torchvision", "fc.weight"),
    "timm-seresnet50": ("se_resnet50", torchvision_layout, lambda s: s, "timm", "fc.weight"),
    "cadene-se_resnet50": ("se_resnet50", cadene_layout, lambda s: s, "cadene", "fc.weight"),
    "dataparallel-resnet18": (
        "resnet18", torchvision_layout, lambda s: {f"module.{k}": v for k, v in s.items()}, "torchvision", "fc.bias"
    ),
}


@pytest.mark.parametrize("case", list(LAYOUTS))
def test_imagenet_weights_load_in_each_layout(case, tmp_path):
    architecture, to_layout, wrap, layout, head = LAYOUTS[case]
    torch.manual_seed(1)
    source = ResNet(architecture)
    for tensor in source.state_dict().values():
        if tensor.is_floating_point():
            tensor.normal_()
    path = tmp_path / "weights.pth"
    torch.save(wrap(to_layout(source)), path)
    assert layout == detect_layout(to_layout(source))

    target = ResNet(architecture)
    messages = []
    report = load_imagenet_weights(target, path, log=messages.append)
    assert report.layout == layout
    assert head in report.unexpected
    assert not report.mismatched and not report.missing
    for name, tensor in target.state_dict().items():
        torch.testing.assert_close(tensor, source.state_dict()[name], rtol=0, atol=0, msg=name)
    assert "loaded" in messages[0] and head in messages[0]


def test_weights_report_lists_mismatched_and_missing(tmp_path):
    path = tmp_path / "resnet50.pth"
    torch.save(torchvision_layout(ResNet("resnet50")), path)
    report = load_imagenet_weights(ResNet("se_resnet50"), path, log=lambda message: None)
    assert report.missing and all(".se." in name for name in report.missing)
    torch.save(torchvision_layout(ResNet("resnet18")), path)
    report = load_imagenet_weights(ResNet("resnet34"), path, log=lambda message: None)
    assert "layer1.2.conv1.weight" in report.missing
    torch.save(torchvision_layout(ResNet("resnet18")), path)
    report = load_imagenet_weights(ResNet("resnet50"), path, log=lambda message: None)
    assert ("layer1.0.conv1.weight", (64, 64, 3, 3), (64, 64, 1, 1)) in report.mismatched
    assert "conv1.weight" in report.loaded


def test_unknown_weights_layout_is_an_error(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"features.0.weight": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match=r"other.pth: unknown weights layout.*features.0.weight"):
        load_imagenet_weights(ResNet("resnet18"), path)
    torch.save(torchvision_layout(ResNet("resnet18")), path)
    with pytest.raises(ValueError, match="unknown weights layout 'caffe'"):
        load_imagenet_weights(ResNet("resnet18"), path, layout="caffe")
