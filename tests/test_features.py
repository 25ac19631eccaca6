"""VGG19 layer names, cut depth, frozen weights, input folding and normalisation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from restyle.config import LAYER_NAMES, check_layers, deepest
from restyle.errors import RestyleError
from restyle.net.vgg import VGGFeatures
from restyle.net.weights import CAFFE, TORCHVISION, fold_input_convention, rescale_channels

from .conftest import tiny_convs


def test_layer_names_follow_vgg19() -> None:
    assert len([n for n in LAYER_NAMES if n.startswith("conv")]) == 16
    assert len([n for n in LAYER_NAMES if n.startswith("relu")]) == 16
    assert [n for n in LAYER_NAMES if n.startswith("pool")] == [f"pool{i}" for i in range(1, 6)]
    assert LAYER_NAMES[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
    assert LAYER_NAMES.index("pool3") == LAYER_NAMES.index("relu3_4") + 1
    assert LAYER_NAMES[-1] == "pool5"


def test_unknown_layer_lists_valid_ones() -> None:
    with pytest.raises(RestyleError) as e:
        check_layers(["relu4_2", "conv6_1"])
    msg = str(e.value)
    assert "conv6_1" in msg and "relu5_1" in msg and "\n" not in msg


def test_network_is_cut_after_deepest_layer() -> None:
    assert deepest(["relu1_1", "relu4_2", "conv3_1"]) == "relu4_2"
    net = VGGFeatures(tiny_convs(), "avg", "relu3_1")
    assert net.layer_names[-1] == "relu3_1"
    assert set(net.convs.keys()) == {"conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1"}
    with pytest.raises(RestyleError):
        net(torch.rand(1, 3, 16, 16), ["relu4_1"])


def test_features_are_frozen_and_shapes_follow_pooling(tiny_net: VGGFeatures) -> None:
    assert not any(p.requires_grad for p in tiny_net.parameters())
    assert not tiny_net.training
    out = tiny_net(torch.rand(1, 3, 32, 48), ["relu1_1", "pool1", "relu3_1", "relu5_1"])
    assert out["relu1_1"].shape == (1, 4, 32, 48)
    assert out["pool1"].shape == (1, 4, 16, 24)
    assert out["relu3_1"].shape == (1, 8, 8, 12)
    assert out["relu5_1"].shape == (1, 8, 2, 3)


def test_pre_activation_survives_in_place_relu(tiny_net: VGGFeatures) -> None:
    out = tiny_net(torch.rand(1, 3, 16, 16), ["conv2_1", "relu2_1"])
    assert (out["conv2_1"] < 0).any()
    assert torch.equal(out["relu2_1"], out["conv2_1"].clamp_min(0))


def test_gradient_flows_to_pixels(tiny_net: VGGFeatures) -> None:
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    tiny_net(x, ["relu3_1"])["relu3_1"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("convention", [CAFFE, TORCHVISION])
def test_folding_the_input_convention_is_exact(convention: object) -> None:
    conv = convention
    assert hasattr(conv, "order")
    convs = tiny_convs(dtype=torch.float64)
    rgb = torch.rand(1, 3, 12, 10, dtype=torch.float64)
    # The network's own input: reorder, scale, subtract mean, divide by std.
    net_in = rgb[:, list(conv.order)] * conv.scale  # type: ignore[attr-defined]
    mean = torch.tensor(conv.mean, dtype=torch.float64).view(1, 3, 1, 1)  # type: ignore[attr-defined]
    std = torch.tensor(conv.std, dtype=torch.float64).view(1, 3, 1, 1)  # type: ignore[attr-defined]
    net_in = (net_in - mean) / std
    w, b = convs["conv1_1"]
    expected = F.conv2d(F.pad(net_in, (1, 1, 1, 1), mode="replicate"), w, b)
    fw, fb = fold_input_convention(convs, conv)["conv1_1"]  # type: ignore[arg-type]
    got = F.conv2d(F.pad(rgb, (1, 1, 1, 1), mode="replicate"), fw, fb)
    torch.testing.assert_close(got, expected)


def test_rescaling_divides_each_channel_by_its_mean() -> None:
    convs = tiny_convs(dtype=torch.float64)
    gen = torch.Generator().manual_seed(3)
    means = {
        n: torch.rand(b.shape[0], generator=gen, dtype=torch.float64) + 0.5
        for n, (_, b) in convs.items()
    }
    x = torch.rand(1, 3, 32, 32, dtype=torch.float64)
    layers = ["relu1_1", "relu2_2", "relu4_2", "relu5_1"]
    plain = VGGFeatures(convs, "max", "relu5_4").double()(x, layers)
    scaled = VGGFeatures(rescale_channels(convs, means), "max", "relu5_4").double()(x, layers)
    for layer in layers:
        conv = "conv" + layer[4:]
        m = means[conv].view(1, -1, 1, 1)
        torch.testing.assert_close(scaled[layer], plain[layer] / m)
