"""Stylise a photo: the task that wires images to the objective and the optimisation.

:class:`StyleRun` takes decoded images and settings, prepares the tensors (sizes, colour
matching, the start image), builds each scale's objective from the targets (the paintings'
Gram matrices computed once per network, see :mod:`restyle.net.cache`) and runs
:class:`restyle.optim.loop.Optimization`, whose progress it passes on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from PIL import Image

from .. import color
from ..config import INIT_KINDS, STYLE_LAYER_REFERENCE, Settings, deepest
from ..device import configure_backends, resolve_device
from ..errors import RestyleError
from ..media.image import load_image, resize, to_pil, to_tensor
from ..media.masks import mask_tensor
from ..net.cache import NetworkCache, NetworkSpec, default_cache, image_digest
from ..net.vgg import VGGFeatures
from ..objective.balance import balanced_layer_weights, layer_losses, style_over_content
from ..objective.evaluate import evaluate, features_and_grams, layers_of
from ..objective.guided import GuidedGramStyleTerm, GuidedRegion, guided_grams, normalise
from ..objective.masks import propagate, region_channels
from ..objective.terms import ContentTerm, GramStyleTerm, Term, TVTerm, blend_grams
from ..objective.tiles import tiles_for
from ..optim.loop import Optimization, upsample
from ..optim.progress import Progress
from ..optim.schedule import output_size, scale_sizes, split_iterations, style_size


class StyleRun:
    """A style-transfer run: iterate over it for :class:`Progress`; ask :meth:`image` any time.

    Args:
        content: the photo (RGB), or None for texture synthesis.
        styles: one or more paintings (RGB).
        settings: the run's settings.
        networks: where the network is built and kept (default: the process's shared cache,
            so a second run in the same process reuses the network and the paintings' targets).
        start: an image ``(1, 3, H, W)`` in [0, 1] to start from instead of ``settings.init``
            (resized to the first scale), e.g. the previous frame of a video warped into this
            one.
        extra_terms: more terms of the objective for an image of a given width and height,
            added to content, style and total variation at every scale (e.g. a temporal term).
        masks: spatial control (Gatys et al. 2017): one greyscale mask per painting, any size
            (white: that painting's style goes here); pixels that no mask covers stay the
            photo. See :mod:`restyle.objective.guided`.
        style_masks: with ``masks``, a mask on each painting (or None) choosing the part of it
            that gives its region the style.
        coarse_style: scale control: a painting whose Grams replace the style's at the layers
            not in ``settings.fine_layers`` (its large-scale structure with their strokes).
    """

    def __init__(
        self,
        content: Image.Image | None,
        styles: list[Image.Image],
        settings: Settings,
        *,
        networks: NetworkCache | None = None,
        start: torch.Tensor | None = None,
        extra_terms: Callable[[int, int], Sequence[Term]] | None = None,
        masks: Sequence[Image.Image] | None = None,
        style_masks: Sequence[Image.Image | None] | None = None,
        coarse_style: Image.Image | None = None,
    ) -> None:
        if not styles:
            raise RestyleError("at least one style image is needed")
        _check_control(content, styles, settings, masks, style_masks, coarse_style)
        self.masks = None if masks is None else list(masks)
        self.style_masks = None if style_masks is None else list(style_masks)
        self.fine_count = len(styles)
        if coarse_style is not None:
            styles = [*styles, coarse_style]  # resized and colour-matched with the others
        if settings.style_blend is not None and len(settings.style_blend) != len(styles):
            raise RestyleError(
                f"{len(settings.style_blend)} style blend weights given for "
                f"{len(styles)} style images"
            )
        if content is None and settings.color != "none":
            raise RestyleError(f"color={settings.color} needs a content image")
        if content is None and settings.init in ("content", "auto", "palette"):
            settings = settings.replace(init="noise")
        self.settings = settings
        self.content = content
        ref = content if content is not None else styles[0]
        self.width, self.height = output_size(
            ref.width, ref.height, settings.size, settings.width, settings.height
        )
        if settings.color == "histogram" and content is not None:
            c = to_tensor(content)
            styles = [to_pil(color.match_histogram(to_tensor(s), c)) for s in styles]
        self.styles = styles
        self.init_image = self._init_file(settings.init)
        self.device = resolve_device(settings.device)
        configure_backends(self.device)
        self.networks = networks or default_cache()
        self.spec = NetworkSpec.of(settings, self.device)
        self.start = start
        self.extra_terms = extra_terms
        #: The photo's own style loss per layer at the latest scale, ``w_l E0_l``, when
        #: :attr:`Settings.style_balance` evened out the layers (else empty).
        self.layer_start: dict[str, float] = {}
        self._optimization: Optimization | None = None
        self._content_small: torch.Tensor | None = None
        self.sizes = scale_sizes(self.width, self.height, settings.min_scale, settings.multiscale)
        #: The style's weight over the content's at the smallest scale (see
        #: :attr:`Settings.multiscale_balance_limit`), when coarse to fine had to ask.
        self.balance: float | None = None
        heavy = False  # the style outweighs the content past the limit: one scale
        if len(self.sizes) > 1 and settings.multiscale_balance_limit:
            self.balance = self._balance(*self.sizes[0])
            heavy = self.balance is not None and self.balance > settings.multiscale_balance_limit
            if heavy:
                self.sizes = self.sizes[-1:]
        if settings.init == "auto":  # see INIT_KINDS: the palette where the style sent it here
            self.settings = settings.replace(init="palette" if heavy else "content")
        self.steps = split_iterations(settings.iterations, self.sizes)

    @staticmethod
    def _init_file(init: str) -> Image.Image | None:
        if init in INIT_KINDS:
            return None
        return load_image(init, role="init image")

    # ----- images -------------------------------------------------------------------------

    def _tensor(self, img: Image.Image, w: int, h: int) -> torch.Tensor:
        return to_tensor(resize(img, w, h)).to(self.device)

    def image(self) -> Image.Image:
        """The current image, as the user would get it (colour recombined). Before the first
        step: the instant result for ``init="fast"`` (made now if need be), else the content
        photo, at output size."""
        x = self._optimization.current() if self._optimization is not None else None
        if x is None and self.settings.init == "fast" and self.content is not None:
            if self.start is None:  # made now (about a second), so that it shows at once
                self.start = self._fast_start()
            return resize(to_pil(self.start.float().clamp(0, 1)), self.width, self.height)
        if x is None:
            ref = self.content if self.content is not None else self.styles[0]
            return resize(ref, self.width, self.height)
        if self.settings.color == "luminance" and self._content_small is not None:
            x = color.combine_luminance(x, self._content_small)
        return to_pil(x)

    # ----- the run ------------------------------------------------------------------------

    def _first_image(self, w: int, h: int) -> torch.Tensor:
        s = self.settings
        content = self._scale_content(w, h)
        given: torch.Tensor | None = None
        if self.start is None and s.init == "fast":
            self.start = self._fast_start()
        if self.start is not None:
            given = F.interpolate(
                self.start.to(self.device, torch.float32), size=(h, w), mode="bilinear",
                align_corners=False, antialias=True,
            ).clamp(0, 1)  # fmt: skip
        elif self.init_image is not None:
            given = self._tensor(self.init_image, w, h)
        if given is not None:
            return color.grey_rgb(color.luminance(given)) if s.color == "luminance" else given
        if s.init == "content" and content is not None:
            return content.clone()
        if s.init == "palette" and content is not None:
            return self._palette_start(content, w, h)
        if s.init == "style":
            style0 = self._style_tensors(w, h)[0]
            return F.interpolate(style0, size=(h, w), mode="bilinear", align_corners=False)
        gen = torch.Generator().manual_seed(s.seed)
        noise = torch.rand((1, 1 if s.color == "luminance" else 3, h, w), generator=gen)
        return noise.expand(1, 3, h, w).contiguous().to(self.device)

    def _fast_start(self) -> torch.Tensor:
        """``init="fast"``: the instant network's result (Ghiasi et al. 2017), made once at the
        output size (the first scale gets it resized)."""
        from .instant import instant

        if self.content is None:
            raise RestyleError("init=fast needs a content photo")
        s = self.settings
        styles = self.styles[: self.fine_count]  # without scale control's coarse painting
        blend = None if s.style_blend is None else s.style_blend[: self.fine_count]
        # The paintings were already colour-matched for color=histogram.
        colour = "none" if s.color == "histogram" else s.color
        fast = s.replace(width=self.width, height=self.height, style_blend=blend, color=colour)
        if self.masks is None:
            return to_tensor(instant(self.content, styles, fast)).to(self.device)
        one = fast.replace(style_blend=None)
        painted = [to_tensor(instant(self.content, [p], one)).to(self.device) for p in styles]
        photo = self._tensor(self.content, self.width, self.height)
        return self._by_region(photo, painted, self.width, self.height)

    def _palette_start(self, content: torch.Tensor, w: int, h: int) -> torch.Tensor:
        """``init="palette"``: the photo at ``w`` x ``h`` with the paintings' colours (their
        blend's mean and covariance, :func:`restyle.color.match_palette`); with masks, each
        region with its own painting's. Under ``color="luminance"`` the paintings were matched
        to the photo's luminance already, so this stays close to the grey photo."""
        s = self.settings
        paintings = self._style_tensors(w, h)[: self.fine_count]  # not scale control's coarse
        if self.masks is None:
            blend = (s.style_blend or (1.0,) * len(paintings))[: self.fine_count]
            return color.match_palette(content, paintings, blend)
        painted = [color.match_palette(content, [p], [1.0]) for p in paintings]
        return self._by_region(content, painted, w, h)

    def _by_region(
        self, photo: torch.Tensor, painted: list[torch.Tensor], w: int, h: int
    ) -> torch.Tensor:
        """Spatial control's start image at ``w`` x ``h``: each region from its own painted
        version, the photo where no mask reaches (soft masks blend; overlapping ones share by
        weight)."""
        weights = self._mask_pixels(w, h)
        total = torch.stack(weights).sum(0)
        out = photo * (1 - total.clamp(max=1))
        for image, m in zip(painted, weights, strict=True):
            out = out + m / total.clamp(min=1) * image
        return out.clamp(0, 1)

    def _mask_pixels(self, w: int, h: int) -> list[torch.Tensor]:
        """Spatial control: each region's mask at ``w`` x ``h``, ``(H, W)`` on the device."""
        assert self.masks is not None
        return [mask_tensor(m, w, h).to(self.device) for m in self.masks]

    def _scale_content(self, w: int, h: int) -> torch.Tensor | None:
        """The photo at ``w`` x ``h`` as the network sees it (grey for luminance transfer);
        keeps the colour version for :meth:`image`."""
        if self.content is None:
            return None
        if self._content_small is None or self._content_small.shape[-2:] != (h, w):
            self._content_small = self._tensor(self.content, w, h)
        c = self._content_small
        return color.grey_rgb(color.luminance(c)) if self.settings.color == "luminance" else c

    def _style_tensors(self, w: int, h: int) -> list[torch.Tensor]:
        """The paintings at their size for a ``w`` x ``h`` output, as the network sees them."""
        s = self.settings
        out = []
        for img in self.styles:
            sw, sh = style_size(img.width, img.height, w, h, s.style_scale)
            st = self._tensor(img, sw, sh)
            if s.color == "luminance" and self._content_small is not None:
                st = color.match_luminance(st, self._content_small)
            out.append(st)
        return out

    def _style_grams(self, net: VGGFeatures, style: torch.Tensor) -> dict[str, torch.Tensor]:
        """A painting's Gram matrices at the style layers, computed once per network."""
        s = self.settings
        key = ("style-grams", image_digest(style), s.style_layers, s.tile_pixels)

        def compute() -> dict[str, torch.Tensor]:
            return features_and_grams(net, style, (), s.style_layers, s.tile_pixels)[1]

        return self.networks.result(self.spec, key, compute)

    def terms(self, width: int, height: int) -> list[Term]:
        """The objective at ``width`` x ``height``: content, style and total variation, with
        targets computed at that size (see :class:`restyle.optim.loop.Problem`)."""
        s = self.settings
        net = self._network()
        content = self._scale_content(width, height)
        content_feats: dict[str, torch.Tensor] = {}
        photo_grams: dict[str, torch.Tensor] = {}
        balance = bool(s.style_balance and s.beta and content is not None and self.masks is None)
        feature_layers = s.content_layers if s.alpha > 0 else ()
        if content is not None and (feature_layers or balance):
            content_feats, photo_grams = features_and_grams(
                net, content, feature_layers, s.style_layers if balance else (), s.tile_pixels
            )
        # The content term sums over positions while the style term does not, so the balance
        # would shift with the pixel count. alpha is scaled by reference/actual pixels: every
        # scale and every output size gets the balance of a reference-size image (the paper's
        # sums exactly, at that size); with reference_pixels=0 the reference is the output.
        reference = s.reference_pixels or self.width * self.height
        area = reference / (width * height)
        alpha = 0.0
        if self.content is not None:
            alpha = s.alpha * area * self._content_factor(width, height)
        style_terms = self._style_terms(net, width, height)
        if balance:
            for term in style_terms:
                if isinstance(term, GramStyleTerm):
                    self.layer_start = layer_losses(photo_grams, term.targets, term.layer_weights)
                    term.layer_weights = balanced_layer_weights(
                        term.layer_weights, self.layer_start, STYLE_LAYER_REFERENCE,
                        s.style_balance,
                    )  # fmt: skip
        terms: list[Term] = [ContentTerm(content_feats, alpha), *style_terms, TVTerm(s.tv_weight)]
        if self.extra_terms is not None:
            terms += self.extra_terms(width, height)
        return terms

    def _balance(self, width: int, height: int) -> float | None:
        """How many times the style outweighs the content at ``width`` x ``height``: the style
        term at the photo itself over the content term at an image without features (see
        :func:`restyle.objective.balance.style_over_content`); None without a photo, with
        masks or with either term off."""
        content = self._scale_content(width, height)
        if content is None or self.masks is not None:
            return None
        terms = self.terms(width, height)
        cterm = next((t for t in terms if isinstance(t, ContentTerm)), None)
        sterm = next((t for t in terms if isinstance(t, GramStyleTerm)), None)
        if cterm is None or sterm is None or not cterm.layers or not sterm.layers:
            return None
        s = self.settings
        _, grams = features_and_grams(self._network(), content, (), sterm.layers, s.tile_pixels)
        # the objective's own balance, without the extra weight terms() gives a coarse scale
        return style_over_content(cterm, sterm, grams) * self._content_factor(width, height)

    def _content_factor(self, width: int, height: int) -> float:
        """What alpha is multiplied by at ``width`` x ``height``: 1 at the output size,
        :attr:`Settings.coarse_alpha_factor` at a coarse scale."""
        if (width, height) == (self.width, self.height):
            return 1.0
        return self.settings.coarse_alpha_factor

    def _style_terms(self, net: VGGFeatures, width: int, height: int) -> list[Term]:
        """The style term(s) at ``width`` x ``height``: the paintings' blended Grams (or a
        guided term for masks; fine and coarse paintings' Grams for scale control)."""
        s = self.settings
        if self.masks is not None:
            return [self._guided_term(net, width, height)]
        grams = [self._style_grams(net, st) for st in self._style_tensors(width, height)]
        if len(grams) > self.fine_count:  # scale control: the last painting is the coarse one
            coarse = grams.pop()
            grams = [
                {k: (g if k in s.fine_layers else coarse[k]) for k, g in gm.items()} for gm in grams
            ]
        blend = s.style_blend or (1.0,) * len(grams)
        style_grams = blend_grams(grams, blend) if s.style_layers else {}
        return [GramStyleTerm(style_grams, self._layer_weights(), s.beta)]

    def _layer_weights(self) -> dict[str, float]:
        """w_l per style layer: the settings' weights, or equal weights summing to 1."""
        s = self.settings
        n = len(s.style_layers)
        layer_w = s.style_layer_weights or (1.0 / max(1, n),) * n
        return dict(zip(s.style_layers, layer_w, strict=True))

    def _guided_term(self, net: VGGFeatures, width: int, height: int) -> GuidedGramStyleTerm:
        """Spatial control: each mask's region compared with its painting (guided Grams)."""
        s = self.settings
        assert self.masks is not None
        pixels = self._mask_pixels(width, height)
        channels = region_channels(pixels, s.style_layers, s.mask_mode, s.mask_grow)
        regions = []
        for i, st in enumerate(self._style_tensors(width, height)):
            masks = _normalised(channels[i])
            if not masks:  # the region vanished at this scale
                continue
            style_mask = self.style_masks[i] if self.style_masks is not None else None
            if style_mask is None:
                targets = self._style_grams(net, st)
            else:
                targets = self._masked_style_grams(net, st, style_mask)
            regions.append(GuidedRegion(masks, targets))
        term = GuidedGramStyleTerm(regions, self._layer_weights(), s.beta)
        self._balance_regions(net, term, width, height)
        return term

    def _balance_regions(
        self, net: VGGFeatures, term: GuidedGramStyleTerm, width: int, height: int
    ) -> None:
        """Region weights from :attr:`Settings.style_balance`: each region's painting weighted
        by ``(E0_mean / E0_r) ** b``, ``E0_r`` the photo's own style loss to it in that
        region and ``E0_mean`` their geometric mean. Without it, a painting near the photo's
        statistics (The Scream on a town) gets the weight of one far from them (The Starry
        Night on the sky) and hardly acts. (Masked runs even out their regions against each
        other; unmasked runs rescale each layer, see :mod:`restyle.objective.balance`.)"""
        b = self.settings.style_balance
        content = self._scale_content(width, height)
        if not b or content is None or len(term.regions) < 2:
            return
        alone = [
            GuidedGramStyleTerm([r], term.layer_weights, 1.0, name=f"region{i}")
            for i, r in enumerate(term.regions)
        ]
        tiles = tiles_for(width, height, self.settings.tile_pixels, layers_of(alone))
        with torch.no_grad():
            start, _ = evaluate(net, alone, content, tiles)
        e0 = [start[t.name] for t in alone]
        if min(e0) <= 0:
            return
        mean = math.exp(sum(math.log(e) for e in e0) / len(e0))
        for region, e in zip(term.regions, e0, strict=True):
            region.weight = (mean / e) ** b

    def _masked_style_grams(
        self, net: VGGFeatures, style: torch.Tensor, mask: Image.Image
    ) -> dict[str, torch.Tensor]:
        """A painting's guided Gram matrices through a mask of its own, computed once."""
        s = self.settings
        _, _, h, w = style.shape
        m = mask_tensor(mask, w, h).to(self.device)
        guide = _normalised(propagate(m, s.style_layers, s.mask_mode, s.mask_grow))
        key = (
            "masked-style-grams",
            image_digest(style),
            image_digest(mask_tensor(mask, w, h)),
            s.style_layers,
            s.mask_mode,
            s.mask_grow,
            s.tile_pixels,
        )

        def compute() -> dict[str, torch.Tensor]:
            return guided_grams(net, style, guide, s.tile_pixels)

        return self.networks.result(self.spec, key, compute)

    def first_image(self, width: int, height: int) -> torch.Tensor:
        """Where the first scale starts (see :class:`restyle.optim.loop.Problem`)."""
        return self._first_image(width, height)

    def next_image(self, previous: torch.Tensor, width: int, height: int) -> torch.Tensor:
        """A later scale's start: the previous result upsampled, plus the detail of the photo
        that upsampling cannot bring back (the photo at this size minus the photo at the
        previous size, upsampled the same way). The coarse scales chose the colours and the
        large shapes; the new scale starts sharp, where a single-scale run starts, instead of
        blurred, which relu4_2 reads as lost content (see :class:`restyle.optim.loop.Problem`)."""
        up = upsample(previous, width, height)
        _, _, h0, w0 = previous.shape
        before = self._scale_content(w0, h0)
        # the new size last: image() recombines colour with the photo kept at the latest size
        now = self._scale_content(width, height)
        if before is None or now is None:
            return up
        return up + (now - upsample(before, width, height))

    def bounds(self, width: int, height: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Spatial control: pixels no mask covers are the photo's, fixed, so that a region kept
        as the photo stays exactly the photo (the style terms of the regions around it would
        otherwise reach into it through the network's receptive fields); a pixel covered by
        a fraction ``m`` of the masks may move within ``m`` of the photo (feathered edges).
        None without masks (see :class:`restyle.optim.loop.Problem`)."""
        content = self._scale_content(width, height)
        if self.masks is None or content is None:
            return None
        m = torch.stack(self._mask_pixels(width, height)).sum(0).clamp(max=1)
        lower = content * (1 - m.to(content.dtype))
        return lower, lower + m

    def _network(self) -> VGGFeatures:
        s = self.settings
        layers = [*(s.content_layers if self.content is not None else ()), *s.style_layers]
        return self.networks.network(self.spec, deepest(layers))

    def __iter__(self) -> Iterator[Progress]:
        self._optimization = Optimization(
            self._network(), self, self.sizes, self.steps, self.settings
        )
        return iter(self._optimization)

    def run(self) -> Image.Image:
        """Run to the end and return the result."""
        for _ in self:
            pass
        return self.image()


def _normalised(channels: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Guidance channels normalised to mean square 1; layers where they are empty left out."""
    out = {}
    for k, t in channels.items():
        n = normalise(t)
        if n is not None:
            out[k] = n
    return out


def _check_control(
    content: Image.Image | None,
    styles: Sequence[Image.Image],
    settings: Settings,
    masks: Sequence[Image.Image] | None,
    style_masks: Sequence[Image.Image | None] | None,
    coarse_style: Image.Image | None,
) -> None:
    """One-line errors for masks and scale control that cannot work together."""
    if masks is not None:
        if len(masks) != len(styles):
            raise RestyleError(
                f"{len(masks)} masks given for {len(styles)} style images: give one mask per "
                "style image"
            )
        if content is None:
            raise RestyleError("masks need a content photo (uncovered pixels stay the photo)")
        if settings.style_blend is not None:
            raise RestyleError("style blend weights do not apply with masks: each mask has one")
        if coarse_style is not None:
            raise RestyleError("scale control (a coarse style) does not combine with masks")
    if style_masks is not None:
        if masks is None:
            raise RestyleError("masks on the style images need masks on the photo too")
        if len(style_masks) != len(styles):
            raise RestyleError(
                f"{len(style_masks)} style-image masks given for {len(styles)} style images"
            )
    if coarse_style is not None:
        fine = [k for k in settings.style_layers if k in settings.fine_layers]
        if not fine or len(fine) == len(settings.style_layers):
            raise RestyleError(
                "scale control needs style layers on both sides of the split: fine layers "
                f"{','.join(settings.fine_layers)}, style layers {','.join(settings.style_layers)}"
            )
