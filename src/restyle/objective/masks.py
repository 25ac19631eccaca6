"""Guidance masks carried from the pixels to every layer of VGG19 (Gatys, Ecker, Bethge,
Hertzmann & Shechtman, "Controlling Perceptual Factors in Neural Style Transfer", CVPR 2017,
Sec. 4).

A region of the image is a mask ``T`` of shape ``(H, W)`` with values in [0, 1] (soft,
feathered masks are fine). A style layer with stride ``s`` has ``H // s`` x ``W // s``
positions; its guidance channel ``T_l`` says how much each position belongs to the region. The
paper's three ways of getting ``T_l`` are the :data:`MASK_MODES`:

* ``simple``: the mask resized to the layer. Here the resizing is the network's own 2x2
  average pooling at each pooling layer, so ``T_l`` at a position is exactly the fraction of
  the pixels under that position's 2^k x 2^k cell that lie in the region.
* ``inside``: positions whose whole receptive field lies inside the region. Every 3x3
  convolution erodes the mask by one position (the minimum over the 3x3 neighbourhood) and
  every 2x2 pooling takes the minimum of its four inputs. At relu5_1 the receptive field
  reaches about 100 px past a position's cell, so narrow regions vanish at deep layers.
* ``all``: positions whose receptive field touches the region: the same with maxima
  (dilation).

The default (:attr:`restyle.config.Settings.mask_mode`) is ``inside``, chosen by looking at
boundaries: Tübingen with the sky in The Starry Night and the town in The Scream (256 px, 100
steps, real VGG19, the masks of tests/data), once per mode. With ``simple`` the sky's blue
strokes run on 5-10 px below the roofline and the low roofs on the left dissolve into them;
with ``all`` the Scream's orange band climbs to the skyline with a blue fringe above the
church; with ``inside`` the roofline stays crisp, each painting reaches right up to the edge,
and no unstyled seam shows: the shallow layers, which erode by only a few pixels, still paint
the edge band. Its cost is that a region narrower than about 150 px gets no ``relu5_1`` style.

The image's border is not a region edge: outside the image counts as neither in nor out
(erosion and dilation look only at the neighbours that exist), so a mask that covers the
whole image stays whole at every layer. With soft masks the minimum and maximum are grey-level
erosion and dilation: a feathered edge keeps its profile and moves.

``grow`` then dilates (``grow > 0``) or erodes (``grow < 0``) each layer's channel by
``|grow|`` positions of that layer.

Where no region covers the image, the photo is to stay untouched: :func:`region_channels`
therefore multiplies every region's channel by the ``inside`` channel of the union of the
regions, whatever the mode, so that no position whose receptive field reaches a photo pixel
carries style (otherwise its gradient would paint the photo's side of the edge: with
``simple`` a strip of photo 32 px wide between two painted regions of a 96-px test image
changed by 56 grey levels on average, with this by 1.4). The mode then decides only how
two paintings meet.

Everything takes and returns float tensors; the mask of a layer has shape ``(1, 1, h, w)``
(or ``(N, 1, h, w)`` for a batch of masks).

Example:
    >>> import torch
    >>> sky = torch.zeros(64, 64)
    >>> sky[:32] = 1.0
    >>> m = propagate(sky, ["relu1_1", "relu2_1"], mode="inside")
    >>> [int(m[k][0, 0, :, 0].sum()) for k in ("relu1_1", "relu2_1")]  # rows kept
    [31, 14]
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..config import LAYER_INDEX, LAYER_NAMES, MASK_MODES, MaskMode, check_layers

__all__ = ["MASK_MODES", "MaskMode", "grow_mask", "propagate", "region_channels"]


def _as_batch(mask: torch.Tensor) -> torch.Tensor:
    """``(H, W)``, ``(1, H, W)`` or ``(N, 1, H, W)`` as ``(N, 1, H, W)`` floats."""
    if mask.dim() == 2:
        mask = mask[None, None]
    elif mask.dim() == 3:
        mask = mask[None]
    if mask.dim() != 4 or mask.shape[1] != 1:
        raise ValueError(f"a mask has shape (H, W) or (N, 1, H, W), got {tuple(mask.shape)}")
    if not mask.is_floating_point():
        mask = mask.float()
    return mask


def _erode(m: torch.Tensor, k: int) -> torch.Tensor:
    """Minimum over each ``k`` x ``k`` window, stride 1, neighbours outside ignored."""
    return -F.max_pool2d(-m, k, stride=1, padding=k // 2)


def _dilate(m: torch.Tensor, k: int) -> torch.Tensor:
    """Maximum over each ``k`` x ``k`` window, stride 1, neighbours outside ignored."""
    return F.max_pool2d(m, k, stride=1, padding=k // 2)


def grow_mask(mask: torch.Tensor, positions: int) -> torch.Tensor:
    """``mask`` ``(N, 1, h, w)`` dilated by ``positions`` (> 0) or eroded by ``-positions``
    (< 0) positions in every direction (a square neighbourhood); 0 returns it unchanged."""
    out = mask
    for _ in range(abs(positions)):
        out = _dilate(out, 3) if positions > 0 else _erode(out, 3)
    return out


def propagate(
    mask: torch.Tensor,
    layers: Sequence[str],
    mode: str = "simple",
    grow: int = 0,
) -> dict[str, torch.Tensor]:
    """The guidance channel of ``mask`` at each of ``layers``.

    Args:
        mask: the region at pixel level, ``(H, W)`` or ``(N, 1, H, W)``, values in [0, 1].
        layers: VGG19 layer names (``convB_C``, ``reluB_C``, ``poolB``).
        mode: ``simple``, ``inside`` or ``all`` (see the module's doc).
        grow: positions by which each layer's channel is dilated (> 0) or eroded (< 0).

    Returns:
        ``{layer: (N, 1, H // s, W // s)}`` with ``s`` the layer's stride, in the mask's
        dtype and device.

    Raises:
        ValueError: for an unknown mode or a mask of the wrong shape.
    """
    if mode not in MASK_MODES:
        raise ValueError(f"mask mode must be one of {', '.join(MASK_MODES)}; got {mode!r}")
    check_layers(layers)
    wanted = set(layers)
    out: dict[str, torch.Tensor] = {}
    if not wanted:
        return out
    m = _as_batch(mask)
    last = max(LAYER_INDEX[k] for k in wanted)
    for name in LAYER_NAMES[: last + 1]:
        if name.startswith("conv") and mode != "simple":
            m = _erode(m, 3) if mode == "inside" else _dilate(m, 3)
        elif name.startswith("pool"):
            if mode == "simple":
                m = F.avg_pool2d(m, 2)
            elif mode == "inside":
                m = -F.max_pool2d(-m, 2)
            else:
                m = F.max_pool2d(m, 2)
        if name in wanted:
            out[name] = grow_mask(m, grow)
    return out


def region_channels(
    masks: Sequence[torch.Tensor],
    layers: Sequence[str],
    mode: str = "simple",
    grow: int = 0,
) -> list[dict[str, torch.Tensor]]:
    """Every region's guidance channel at each of ``layers``, the photo kept out of them.

    Args:
        masks: one mask per region at pixel level, ``(H, W)`` in [0, 1], all the same size;
            pixels that no mask covers are the photo.
        layers, mode, grow: as for :func:`propagate`.

    Returns:
        Per region, ``{layer: (1, 1, h, w)}``: :func:`propagate`'s channels times the
        ``inside`` channel of the union of the regions (all ones when the regions cover the
        whole image).
    """
    channels = [propagate(m, layers, mode, grow) for m in masks]
    if not masks:
        return channels
    union = torch.stack([_as_batch(m) for m in masks]).sum(0).clamp(0, 1)
    if bool((union >= 1).all()):
        return channels
    keep = propagate(union, layers, "inside")
    return [{k: t * keep[k] for k, t in c.items()} for c in channels]
