"""Weight sources: torchvision's layout from a file or the hub cache, with clear errors.
The tests build the files they load; nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from restyle.errors import RestyleError
from restyle.net.weights import (
    CONV_SPECS,
    TORCHVISION,
    TORCHVISION_INDICES,
    load_file,
    load_torchvision,
)


def _torchvision_state(prefix: str = "features.") -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    state = {}
    for (_, cin, cout), idx in zip(CONV_SPECS, TORCHVISION_INDICES, strict=True):
        state[f"{prefix}{idx}.weight"] = torch.randn(cout, cin, 3, 3, generator=gen) * 0.01
        state[f"{prefix}{idx}.bias"] = torch.randn(cout, generator=gen) * 0.01
    state["classifier.0.weight"] = torch.zeros(2, 2)  # ignored
    return state


def test_torchvision_layout_from_a_file(tmp_path: Path) -> None:
    state = _torchvision_state()
    path = tmp_path / "vgg19.pth"
    torch.save(state, path)
    w = load_file(path)
    assert w.convention == TORCHVISION
    torch.testing.assert_close(w.convs["conv1_1"][0], state["features.0.weight"])
    torch.testing.assert_close(w.convs["conv5_4"][1], state["features.34.bias"])


def test_own_layout_and_wrapped_state_dict(tmp_path: Path) -> None:
    tv = _torchvision_state()
    own = {}
    for (name, _, _), idx in zip(CONV_SPECS, TORCHVISION_INDICES, strict=True):
        own[f"{name}.weight"] = tv[f"features.{idx}.weight"]
        own[f"{name}.bias"] = tv[f"features.{idx}.bias"]
    path = tmp_path / "own.pt"
    torch.save({"state_dict": own}, path)
    torch.testing.assert_close(load_file(path).convs["conv3_2"][0], tv["features.12.weight"])


@pytest.mark.parametrize("kind", ["missing", "garbage", "not_dict", "wrong_net", "wrong_shape"])
def test_bad_weight_files_give_one_line(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"{kind}.pth"
    if kind == "garbage":
        path.write_bytes(b"definitely not a checkpoint")
    elif kind == "not_dict":
        torch.save([1, 2, 3], path)
    elif kind == "wrong_net":
        torch.save({"fc.weight": torch.zeros(2, 2)}, path)
    elif kind == "wrong_shape":
        state = _torchvision_state()
        state["features.2.weight"] = torch.zeros(64, 64, 5, 5)
        torch.save(state, path)
    with pytest.raises(RestyleError) as e:
        load_file(path)
    assert str(path.name) in str(e.value) and "\n" not in str(e.value)


def test_torchvision_source_uses_the_hub_cache_without_downloading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "checkpoints").mkdir()
    torch.save(_torchvision_state(), tmp_path / "checkpoints" / "vgg19-dcbb9e9d.pth")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("must not download")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    w = load_torchvision()
    assert w.name == "torchvision" and w.convention == TORCHVISION


def test_failed_download_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("network unreachable")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(RestyleError) as e:
        load_torchvision()
    assert "bundled" in str(e.value) and "\n" not in str(e.value)
