"""Region masks: propagation to the layers (exact amounts), loading, label images, bad input."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from restyle.cli import main
from restyle.config import LAYER_NAMES, Settings
from restyle.errors import RestyleError
from restyle.media.masks import label_masks, load_masks, mask_tensor, parse_label_map
from restyle.net.vgg import feature_stride
from restyle.objective.masks import grow_mask, propagate, region_channels

from .conftest import image_size, painting, photo

STYLE = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
DATA = Path(__file__).resolve().parent / "data"


def _square(size: int = 64, a: int = 16, b: int = 48) -> torch.Tensor:
    m = torch.zeros(size, size)
    m[a:b, a:b] = 1.0
    return m


def _span(m: torch.Tensor) -> tuple[int, int]:
    """[first, last + 1) of the rows where a (1, 1, h, w) mask has a 1."""
    rows = torch.nonzero((m[0, 0] == 1).any(dim=1)).reshape(-1)
    if not rows.numel():
        return 0, 0
    assert rows.numel() == int(rows[-1] - rows[0]) + 1  # one run
    return int(rows[0]), int(rows[-1]) + 1


def _walk(a: int, b: int, n: int, layer: str, mode: str) -> tuple[int, int]:
    """The interval [a, b) of ``n`` positions carried through the network's convolutions (one
    position each) and poolings (pairs wholly inside, or touching) up to ``layer``; the
    image's border is no edge of the region."""
    for name in LAYER_NAMES[: LAYER_NAMES.index(layer) + 1]:
        if name.startswith("conv"):
            if mode == "inside":
                a, b = (a + 1 if a > 0 else 0), (b - 1 if b < n else n)
            else:
                a, b = max(0, a - 1), min(n, b + 1)
        elif name.startswith("pool"):
            if mode == "inside":
                a, b = (a + 1) // 2, b // 2  # pairs (2i, 2i + 1) with 2i >= a, 2i + 1 < b
            else:
                a, b = a // 2, min(n // 2, (b + 1) // 2)  # pairs with 2i + 1 >= a, 2i < b
            n //= 2
    return (a, b) if b > a else (0, 0)


def test_inside_and_all_erode_and_dilate_by_the_receptive_field_exactly() -> None:
    prop = {mode: propagate(_square(), STYLE[:3], mode) for mode in ("inside", "all")}
    # worked by hand for the square [16, 48) of a 64-px image:
    assert [_span(prop["inside"][k]) for k in STYLE[:3]] == [(17, 47), (10, 22), (7, 9)]
    assert [_span(prop["all"][k]) for k in STYLE[:3]] == [(15, 49), (6, 26), (1, 15)]
    for size, a, b in ((256, 80, 176), (512, 104, 400), (320, 0, 200)):
        for mode in ("inside", "all"):
            masks = propagate(_square(size, a, b), STYLE, mode)
            for k in STYLE:
                s = feature_stride(k)
                assert masks[k].shape == (1, 1, size // s, size // s)
                assert _span(masks[k]) == _walk(a, b, size, k, mode), (size, mode, k)
                # hard masks stay hard
                assert set(masks[k].unique().tolist()) <= {0.0, 1.0}


def test_grow_and_shrink_move_each_layer_by_whole_positions() -> None:
    for grow in (-2, -1, 1, 3):
        m = propagate(_square(), ["relu2_1"], "inside", grow)["relu2_1"]
        assert _span(m) == (10 - grow, 22 + grow)
    m = torch.zeros(1, 1, 9, 9)
    m[0, 0, 4, 4] = 1
    assert int(grow_mask(m, 2).sum()) == 25 and int(grow_mask(grow_mask(m, 2), -2).sum()) == 1


def test_simple_is_the_mask_resized_to_each_layer() -> None:
    gen = torch.Generator().manual_seed(0)
    m = (torch.rand(96, 80, generator=gen) > 0.6).float()
    masks = propagate(m, STYLE, "simple")
    for k in STYLE:
        s = feature_stride(k)
        h, w = 96 // s, 80 // s
        cells = m[: h * s, : w * s].reshape(h, s, w, s).mean(dim=(1, 3))
        torch.testing.assert_close(masks[k][0, 0], cells)


def test_border_of_the_image_is_not_an_edge_of_the_region() -> None:
    full, none = torch.ones(50, 70), torch.zeros(50, 70)
    for mode in ("simple", "inside", "all"):
        for k, t in propagate(full, STYLE, mode).items():
            assert bool((t == 1).all()), (mode, k)
        for t in propagate(none, STYLE, mode).values():
            assert bool((t == 0).all())


def test_soft_masks_stay_in_range_and_modes_are_ordered() -> None:
    y, x = torch.meshgrid(torch.arange(90.0), torch.arange(120.0), indexing="ij")
    soft = torch.sigmoid((x - 0.6 * y - 40) / 6)  # a feathered diagonal edge
    prop = {mode: propagate(soft, STYLE, mode) for mode in ("inside", "simple", "all")}
    for k in STYLE:
        lo, mid, hi = prop["inside"][k], prop["simple"][k], prop["all"][k]
        assert float(lo.min()) >= 0 and float(hi.max()) <= 1
        assert bool((lo <= mid + 1e-6).all()) and bool((mid <= hi + 1e-6).all())
    # the feathering survives: grey values between the two sides at relu1_1
    row = prop["inside"]["relu1_1"][0, 0, 45]
    assert 5 < int(((row > 0.05) & (row < 0.95)).sum()) < 40


def test_propagate_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="mask mode"):
        propagate(torch.ones(8, 8), ["relu1_1"], "outside")
    with pytest.raises(ValueError, match="shape"):
        propagate(torch.ones(2, 3, 8, 8), ["relu1_1"])
    with pytest.raises(RestyleError, match="unknown layer"):
        propagate(torch.ones(8, 8), ["relu9_1"])
    with pytest.raises(RestyleError, match="mask_mode"):
        Settings(mask_mode="outside")  # type: ignore[arg-type]
    with pytest.raises(RestyleError, match="mask_grow"):
        Settings(mask_grow=99)


# ----- loading ------------------------------------------------------------------------------


def test_masks_load_at_any_size_and_resize_to_the_output() -> None:
    small = np.zeros((30, 40), dtype=np.uint8)
    small[:, 20:] = 255
    (m,) = load_masks([small], 1)
    t = mask_tensor(m, 100, 60)
    assert t.shape == (60, 100) and t.dtype == torch.float32
    assert float(t[:, :45].max()) == 0.0 and float(t[:, 55:].min()) == 1.0
    rgb = Image.fromarray(np.stack([small] * 3, axis=-1))
    assert load_masks([rgb], 1)[0].mode == "L"


def test_bad_masks_give_one_line_errors(tmp_path: Path) -> None:
    black = np.zeros((8, 8), dtype=np.uint8)
    white = black + 255
    with pytest.raises(RestyleError, match="2 masks given for 1 style image"):
        load_masks([white, white], 1)
    with pytest.raises(RestyleError, match=r"mask 2 \(for b\.jpg\) is all black"):
        load_masks([white, black + 3], 2, names=["a.jpg", "b.jpg"])
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(RestyleError, match="mask 1") as e:
        load_masks([bad], 1)
    assert "\n" not in str(e.value)
    with pytest.raises(RestyleError, match="not found"):
        load_masks([tmp_path / "missing.png"], 1)


def _labels() -> np.ndarray:
    a = np.zeros((40, 60, 3), dtype=np.uint8)
    a[:15] = (255, 0, 0)
    a[15:30] = (0, 255, 0)
    a[30:] = (0, 0, 255)
    a[14:16] = (128, 128, 0)  # an anti-aliased edge between red and green
    return a


def test_label_images_become_one_mask_per_painting() -> None:
    mapping = parse_label_map("#ff0000=starry-night, #00f=the-scream ,lime=photo")
    assert mapping == {"#ff0000": "starry-night", "#00f": "the-scream", "lime": "photo"}
    styles, masks = label_masks(_labels(), mapping)
    assert styles == ["starry-night", "the-scream"]
    red, blue = (np.asarray(m) > 127 for m in masks)
    assert red[:14].all() and not red[16:].any()
    assert blue[30:].all() and not blue[:30].any()
    # two colours, one painting: one region
    styles, masks = label_masks(_labels(), {"red": "a.jpg", "blue": "a.jpg", "lime": "photo"})
    assert styles == ["a.jpg"] and float(np.asarray(masks[0]).mean()) > 100


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"red": "a.jpg", "lime": "photo"}, "colours the label map does not name"),
        ({"red": "a", "lime": "photo", "blue": "b", "white": "c"}, "white of the label map is not"),
        ({"red": "photo", "lime": "photo", "blue": "photo"}, "no region a painting"),
        ({"nocolour": "a", "lime": "photo", "blue": "b"}, "unknown colour 'nocolour'"),
        ({}, "empty"),
    ],
)
def test_bad_label_maps_give_one_line_errors(mapping: dict[str, str], message: str) -> None:
    with pytest.raises(RestyleError, match=message):
        label_masks(_labels(), mapping)


@pytest.mark.parametrize("text", ["red", "red=", "=a", " , "])
def test_bad_label_map_text(text: str) -> None:
    with pytest.raises(RestyleError):
        parse_label_map(text)


def test_committed_tubingen_masks_split_the_photo() -> None:
    sky, rest = (np.asarray(Image.open(DATA / f"tubingen_{n}.png")) for n in ("sky", "rest"))
    assert sky.shape == rest.shape == (384, 512)
    assert np.array_equal(sky.astype(int) + rest.astype(int), np.full(sky.shape, 255))
    assert 0.25 < (sky > 127).mean() < 0.45
    assert (sky[:20] > 127).mean() > 0.9 and (sky[-100:] > 127).mean() == 0


# ----- the command line ---------------------------------------------------------------------


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {k: tmp_path / f"{k}.png" for k in ("photo", "a", "b", "ma", "mb", "black", "lab")}
    photo().save(paths["photo"])
    painting().save(paths["a"])
    painting(seed=5).save(paths["b"])
    left = np.zeros((32, 48), dtype=np.uint8)
    left[:, :24] = 255
    Image.fromarray(left).save(paths["ma"])
    Image.fromarray(255 - left).save(paths["mb"])
    Image.fromarray(left * 0).save(paths["black"])
    Image.fromarray(_labels()).save(paths["lab"])
    return paths


def _cli(*argv: object) -> tuple[int, str]:
    err = io.StringIO()
    status = main([str(a) for a in argv], err)
    return status, err.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{photo}", "{a}", "{b}", "--masks", "{ma}"], "1 mask given for 2 style images"),
        (["{photo}", "{a}", "--masks", "{ma},{mb}"], "2 masks given for 1 style image"),
        (["{photo}", "{a}", "{b}", "--masks", "{ma},{black}"], "mask 2 (for "),
        (["{photo}", "{a}", "{b}", "--masks", "{ma},{photo}.missing"], "not found"),
        (["{a}", "--masks", "{ma}", "--texture"], "masks need a content photo"),
        (["{photo}", "--labels", "{lab}"], "--labels needs --label-map"),
        (["{photo}", "{a}", "--labels", "{lab}", "--label-map", "red=a"], "give only the photo"),
        (["{photo}", "--labels", "{lab}", "--label-map", "red={a}"], "does not name"),
        (["{photo}", "{a}", "--label-map", "red={a}"], "--label-map goes with --labels"),
        (["{photo}", "{a}", "--style-masks", "{ma}"], "--style-masks with --masks"),
        (["{photo}", "--fine", "{a}"], "--fine needs --coarse"),
        (["{photo}", "{a}", "--coarse", "{b}", "--masks", "{ma}"], "does not combine"),
        (["{photo}", "{a}", "{b}", "--masks", "{ma},{mb}", "--mask-mode", "x"], "invalid choice"),
    ],
)
def test_cli_rejects_bad_mask_input_in_one_line(
    files: dict[str, Path], tmp_path: Path, args: list[str], message: str
) -> None:
    argv = [a.format(**files) for a in args] + ["-o", str(tmp_path / "out.png"), "-q"]
    status, err = _cli(*argv)
    assert status == 2
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "out.png").exists()


def test_cli_masked_and_scale_control_runs(
    use_tiny_net: None, files: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out.png"
    common = ["--size", "48", "-n", "3", "-q", "-o", out]
    f = files
    assert _cli(f["photo"], f["a"], f["b"], "--masks", f"{f['ma']},{f['mb']}", *common)[0] == 0
    assert image_size(out) == (48, 32)
    labels = ["--labels", f["lab"], "--label-map", f"red={f['a']},lime=photo,blue={f['b']}"]
    assert _cli(f["photo"], *labels, "--mask-mode", "inside", "--mask-grow", "1", *common)[0] == 0
    assert _cli(f["photo"], "--fine", f["a"], "--coarse", f["b"], *common)[0] == 0
    masks = ["--masks", f["ma"], "--style-masks", f["mb"]]
    assert _cli(f["photo"], f["a"], *masks, *common)[0] == 0


def test_region_channels_keep_style_off_the_photo() -> None:
    a, b = torch.zeros(64, 96), torch.zeros(64, 96)
    a[:, :40], b[:, 56:] = 1.0, 1.0  # a photo strip [40, 56) between two regions
    for mode in ("simple", "inside", "all"):
        channels = region_channels([a, b], STYLE, mode)
        plain = propagate(a, STYLE, mode)
        for k in STYLE:
            # only positions whose receptive field stays left of the photo carry style ...
            _, end = _walk(0, 40, 96, k, "inside")
            cols = torch.nonzero((channels[0][k][0, 0] > 0).any(dim=0)).reshape(-1)
            assert cols.numel() == 0 or int(cols[-1]) < end, (mode, k)
            # ... and those keep the mode's channel
            torch.testing.assert_close(channels[0][k][..., :end], plain[k][..., :end])
    # regions that cover the whole image: nothing is taken away
    whole = region_channels([a, 1 - a], STYLE, "simple")
    for k in STYLE:
        torch.testing.assert_close(whole[0][k], propagate(a, [k], "simple")[k])
