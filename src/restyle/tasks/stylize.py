"""The optimisation loop: scale by scale, step by step, yielding progress as data."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from PIL import Image

from .. import color
from ..config import Settings
from ..device import autocast_dtype, configure_backends, memory_format, resolve_device
from ..errors import RestyleError
from ..media.image import load_image, resize, to_pil, to_tensor
from ..memory import release_free_memory
from ..net.vgg import VGGFeatures, build_network, deepest
from ..objective.evaluate import plan_tiles, tiled_loss, tiled_targets, whole_loss
from ..objective.terms import Objective, Targets, blend_grams, gram
from ..optim.lbfgs import BoxLBFGS
from ..optim.progress import Progress
from ..optim.schedule import output_size, scale_sizes, split_iterations, style_size

#: L-BFGS memory (pairs of vectors the size of the image).
LBFGS_HISTORY = 20
#: ... stored in bfloat16 (for float32 pixels): half the memory; final losses of float32 runs
#: at 200 and 300 px were within 1.5% either way of float32 pairs (see bench/README.md).
LBFGS_HISTORY_DTYPE = torch.bfloat16
#: ... but at most this many bytes of it (a 4096 x 3072 image keeps 14 bfloat16 pairs, not 20).
LBFGS_HISTORY_BYTES = 2 << 30
#: A scale stops early after this many steps in a row below the relative-change tolerance.
PATIENCE = 5


class StyleRun:
    """A style-transfer run: iterate over it for :class:`Progress`; ask :meth:`image` any time.

    Args:
        content: the photo (RGB), or None for texture synthesis.
        styles: one or more paintings (RGB).
        settings: the run's settings.
    """

    def __init__(
        self, content: Image.Image | None, styles: list[Image.Image], settings: Settings
    ) -> None:
        if not styles:
            raise RestyleError("at least one style image is needed")
        if settings.style_blend is not None and len(settings.style_blend) != len(styles):
            raise RestyleError(
                f"{len(settings.style_blend)} style blend weights given for "
                f"{len(styles)} style images"
            )
        if content is None and settings.color != "none":
            raise RestyleError(f"color={settings.color} needs a content image")
        if content is None and settings.init == "content":
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
        self.sizes = scale_sizes(self.width, self.height, settings.min_scale, settings.multiscale)
        self.steps = split_iterations(settings.iterations, self.sizes)
        self.device = resolve_device(settings.device)
        self._amp = autocast_dtype(self.device, settings.precision)
        configure_backends(self.device)
        self._x: torch.Tensor | None = None
        #: The best point evaluated at the current scale, and its loss terms.
        self._best: torch.Tensor | None = None
        self._best_losses: dict[str, float] = {}
        self._content_small: torch.Tensor | None = None

    @staticmethod
    def _init_file(init: str) -> Image.Image | None:
        if init in ("content", "noise", "style"):
            return None
        return load_image(init, role="init image")

    # ----- images -------------------------------------------------------------------------

    def _tensor(self, img: Image.Image, w: int, h: int) -> torch.Tensor:
        return to_tensor(resize(img, w, h)).to(self.device)

    def image(self) -> Image.Image:
        """The current image, as the user would get it (colour recombined), or the content photo
        at output size if optimisation has not started."""
        if self._x is None:
            ref = self.content if self.content is not None else self.styles[0]
            return resize(ref, self.width, self.height)
        x = (self._best if self._best is not None else self._x).detach()
        if self.settings.color == "luminance" and self._content_small is not None:
            x = color.combine_luminance(x, self._content_small)
        return to_pil(x)

    # ----- the run ------------------------------------------------------------------------

    def _first_image(
        self, w: int, h: int, content: torch.Tensor | None, style0: torch.Tensor
    ) -> torch.Tensor:
        s = self.settings
        if s.init == "content" and content is not None:
            return content.clone()
        if s.init == "style":
            return F.interpolate(style0, size=(h, w), mode="bilinear", align_corners=False)
        if self.init_image is not None:
            x = self._tensor(self.init_image, w, h)
            if s.color == "luminance":
                x = color.grey_rgb(color.luminance(x))
            return x
        gen = torch.Generator().manual_seed(s.seed)
        noise = torch.rand((1, 1 if s.color == "luminance" else 3, h, w), generator=gen)
        return noise.expand(1, 3, h, w).contiguous().to(self.device)

    def _targets(
        self, net: VGGFeatures, w: int, h: int
    ) -> tuple[Targets, torch.Tensor | None, torch.Tensor]:
        s = self.settings
        content_t: torch.Tensor | None = None
        content_feats: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            if self.content is not None:
                content_t = self._tensor(self.content, w, h)
                self._content_small = content_t
                if s.color == "luminance":
                    content_t = color.grey_rgb(color.luminance(content_t))
                if s.content_layers and s.alpha > 0:
                    content_feats, _ = self._features(net, content_t, s.content_layers, ())
            grams = []
            style_ts = []
            for img in self.styles:
                sw, sh = style_size(img.width, img.height, w, h, s.style_scale)
                st = self._tensor(img, sw, sh)
                if s.color == "luminance" and self._content_small is not None:
                    st = color.match_luminance(st, self._content_small)
                style_ts.append(st)
                grams.append(self._features(net, st, (), s.style_layers)[1])
        blend = s.style_blend or (1.0,) * len(grams)
        style_grams = blend_grams(grams, blend) if s.style_layers else {}
        return Targets(content_feats, style_grams), content_t, style_ts[0]

    def _features(
        self, net: VGGFeatures, img: torch.Tensor, layers: Sequence[str], grams: Sequence[str]
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Features (float32) at ``layers`` and Gram matrices at ``grams`` of ``img``, in one
        pass or, for an image above the tile budget, tile by tile."""
        if not layers and not grams:
            return {}, {}
        budget = self.settings.tile_pixels
        if budget and img.shape[2] * img.shape[3] > budget:
            return tiled_targets(net, img, layers, grams, budget)
        feats = net(img, list(dict.fromkeys([*layers, *grams])))
        return (
            {k: feats[k].float().contiguous() for k in layers},
            {k: gram(feats[k]) for k in grams},
        )

    def _objective(self, targets: Targets, w: int, h: int) -> Objective:
        s = self.settings
        layer_w = s.style_layer_weights or (1.0 / max(1, len(s.style_layers)),) * len(
            s.style_layers
        )
        # The content term sums over positions while the style term does not, so the balance
        # would shift with the pixel count. alpha is scaled by reference/actual pixels: every
        # scale and every output size gets the balance of a reference-size image (the paper's
        # sums exactly, at that size); with reference_pixels=0 the reference is the output.
        reference = s.reference_pixels or self.width * self.height
        area = reference / (w * h)
        alpha = s.alpha * area if self.content is not None else 0.0
        return Objective(
            targets, alpha, s.beta, dict(zip(s.style_layers, layer_w, strict=True)), s.tv_weight
        )

    def _make_optimizer(self, x: torch.Tensor) -> torch.optim.Optimizer:
        if self.settings.optimizer == "lbfgs":
            # float64 pixels (exact checks) keep float64 pairs.
            dtype = LBFGS_HISTORY_DTYPE if x.dtype == torch.float32 else x.dtype
            pair = 2 * x.numel() * dtype.itemsize
            history = max(3, min(LBFGS_HISTORY, LBFGS_HISTORY_BYTES // pair))
            return BoxLBFGS([x], history_size=history, lower=0.0, upper=1.0, history_dtype=dtype)
        return torch.optim.Adam([x], lr=self.settings.learning_rate)

    def _steps(
        self, net: VGGFeatures, objective: Objective, x: torch.Tensor, n_steps: int
    ) -> Iterator[dict[str, float]]:
        """Optimise ``x`` in place for up to ``n_steps``, yielding each step's loss terms.

        Stops early once the relative change of the loss stays below the tolerance for
        :data:`PATIENCE` steps, or when the loss is no longer finite.
        """
        opt = self._make_optimizer(x)
        wanted = objective.layers
        last: dict[str, float] = {}

        # The optimiser sees the loss divided by its value at the scale's start: L-BFGS's
        # first step and its curvature test (y.s > 1e-10) depend on the loss's absolute size,
        # and only the ratios of the weights should matter.
        norm: float | None = None

        budget = self.settings.tile_pixels
        _, _, h, w = x.shape
        tiles = plan_tiles(w, h, budget, wanted) if budget and w * h > budget else None

        # The loss and its gradient: the Gram terms' gradients handed to autograd directly (one
        # pass, no float32 copies; see restyle.objective.evaluate), tile by tile above the
        # tile budget, or autograd through the objective itself if it is not the plain one.
        generic = type(objective) is not Objective

        def closure() -> torch.Tensor:
            nonlocal last, norm
            opt.zero_grad(set_to_none=False)
            if generic:
                terms = objective(net(x, wanted), x)
                # One transfer for all four numbers (one device sync per step on a GPU).
                total, content, style, tv = torch.stack(
                    [t.detach() for t in (terms.total, terms.content, terms.style, terms.tv)]
                ).tolist()
                last = {"total": total, "content": content, "style": style, "tv": tv}
                if norm is None:
                    norm = 1.0 / max(abs(total), 1e-30)
                scaled = terms.total * norm
                scaled.backward()  # type: ignore[no-untyped-call]
                return scaled.detach()
            if tiles is None:
                last, backward = whole_loss(net, objective, x)
            else:
                last, backward = tiled_loss(net, objective, x, tiles)
            if norm is None:
                norm = 1.0 / max(abs(last["total"]), 1e-30)
            backward(norm)
            return torch.tensor(last["total"] * norm)

        prev, calm = math.inf, 0
        # BoxLBFGS evaluates the point it accepts (``last`` is the loss there); Adam evaluates
        # before it steps (``last`` is the loss at ``before``). Either way the best point
        # evaluated is what the scale ends with and what image() shows meanwhile.
        # Both copies live in buffers allocated once per scale (nothing image-sized per step).
        best = math.inf
        kept = torch.empty_like(x, requires_grad=False)
        before = None if isinstance(opt, BoxLBFGS) else torch.empty_like(kept)
        for _ in range(n_steps):
            if before is not None:
                before.copy_(x.detach())
            opt.step(closure)  # type: ignore[no-untyped-call,arg-type]
            total = last["total"]
            if total < best:
                best, self._best_losses = total, last
                self._best = kept.copy_(x.detach() if before is None else before)
            if not math.isfinite(total):  # NaN poisons the optimiser's state: back to the best
                if self._best is None:
                    raise RestyleError(
                        "the loss is infinite or NaN; try smaller weights or --precision float32"
                    )
                with torch.no_grad():
                    x.copy_(self._best)
                opt = self._make_optimizer(x)
            with torch.no_grad():
                x.clamp_(0, 1)
            yield last
            change = abs(prev - total) / max(abs(total), 1e-12)
            prev = total
            calm = calm + 1 if change < self.settings.tolerance else 0
            if calm >= PATIENCE:
                return

    def __iter__(self) -> Iterator[Progress]:
        s = self.settings
        layers = [*(s.content_layers if self.content is not None else ()), *s.style_layers]
        # padding is passed only when it is not the default, so that stand-ins for
        # build_network with the shorter signature (the tests' tiny network) keep working.
        extra = {"padding": s.padding} if s.padding != "replicate" else {}
        net = build_network(
            s.weights, s.pooling, deepest(layers), self.device, s.normalize, **extra
        )
        # The network's own precision and layout (pixels, Grams and losses stay float32).
        if self._amp is not None:
            net.set_precision(self._amp)
        net = net.to(memory_format=memory_format(self.device))  # type: ignore[call-overload]
        start = time.perf_counter()
        work = [n * w * h for n, (w, h) in zip(self.steps, self.sizes, strict=True)]
        total_steps = sum(self.steps)
        work_done, done_steps = 0.0, 0
        for si, ((w, h), n_steps) in enumerate(zip(self.sizes, self.steps, strict=True)):
            # The last scale's buffers are free now; without this the next, larger scale
            # grows the process by what the allocator keeps (see restyle.memory).
            release_free_memory()
            targets, content_t, style0 = self._targets(net, w, h)
            objective = self._objective(targets, w, h)
            if self._x is None:
                x0 = self._first_image(w, h, content_t, style0)
            else:
                prev_x = self._best if self._best is not None else self._x
                x0 = F.interpolate(
                    prev_x.detach(), size=(h, w), mode="bicubic", align_corners=False
                )
            x = x0.clamp(0, 1).detach().contiguous().requires_grad_(True)
            self._x, self._best = x, None
            last_scale = si == len(self.sizes) - 1
            pending: Progress | None = None
            for step, losses in enumerate(self._steps(net, objective, x, n_steps), start=1):
                if pending is not None:
                    yield pending
                done_steps += 1
                work_done += w * h
                elapsed = time.perf_counter() - start
                left = sum(work[si + 1 :]) + (n_steps - step) * w * h
                eta = left * elapsed / work_done
                pending = Progress(
                    si,
                    len(self.sizes),
                    w,
                    h,
                    step,
                    n_steps,
                    done_steps,
                    total_steps,
                    losses,
                    elapsed,
                    eta,
                    False,
                )
            if pending is not None:
                # The scale's last step: if it stopped early, its unused steps leave the budget.
                total_steps -= n_steps - pending.step
                # It reports the best point's terms: that point is the scale's result.
                yield dataclasses.replace(
                    pending,
                    total_steps=total_steps,
                    steps=pending.step,
                    done=last_scale,
                    losses=self._best_losses or pending.losses,
                )

    def run(self) -> Image.Image:
        """Run to the end and return the result."""
        for _ in self:
            pass
        return self.image()
