"""Networks built once per process, and what was computed with them.

Building VGG19 reads and dequantises 80 MB of weights and rescales its filters (about a second
on a laptop CPU); computing a painting's Gram matrices runs the network over it. A second run in
the same process (the web app, a batch, the frames of a video) should do neither again.
:class:`NetworkCache` keeps built networks keyed by what defines them (:class:`NetworkSpec`),
and a small store of results computed with each (a painting's style targets) keyed by what they
depend on. The builder is injected, so tests hand in a tiny network instead of patching
module globals.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import torch

from ..config import LAYER_NAMES, Settings
from ..device import autocast_dtype, memory_format
from .vgg import VGGFeatures, build_network

T = TypeVar("T")


@dataclass(frozen=True)
class NetworkSpec:
    """Everything that defines a built feature network (its depth aside: one network cut at
    the deepest layer asked for so far serves every shallower request).

    Attributes:
        weights: ``bundled``, ``torchvision`` or a path to a state dict.
        pooling: ``avg`` or ``max``.
        normalize: filters rescaled to mean activation 1.
        padding: ``replicate`` or ``mean`` (the first convolution's border).
        device: where it runs, e.g. ``cpu`` or ``cuda:0``.
        precision: the dtype of every convolution but the first (None: float32).
    """

    weights: str = "bundled"
    pooling: str = "avg"
    normalize: bool = True
    padding: str = "replicate"
    device: str = "cpu"
    precision: torch.dtype | None = None

    @classmethod
    def of(cls, settings: Settings, device: torch.device) -> NetworkSpec:
        """The network ``settings`` ask for on ``device`` (its precision resolved there)."""
        return cls(
            weights=settings.weights,
            pooling=settings.pooling,
            normalize=settings.normalize,
            padding=settings.padding,
            device=str(device),
            precision=autocast_dtype(device, settings.precision),
        )


class Builder(Protocol):
    """Builds a float32 feature network (as :func:`restyle.net.vgg.build_network`)."""

    def __call__(
        self,
        source: str,
        pooling: str,
        last_layer: str,
        device: torch.device | str,
        normalize: bool,
        *,
        padding: str,
    ) -> VGGFeatures: ...


def image_digest(image: torch.Tensor) -> str:
    """A short hash of a tensor's shape, dtype and values (a cache key for images)."""
    t = image.detach().to("cpu").contiguous()
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((tuple(t.shape), str(t.dtype))).encode())
    h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


class NetworkCache:
    """Built networks by :class:`NetworkSpec`, each with a store of results computed with it.

    Args:
        builder: builds a network; default :func:`restyle.net.vgg.build_network`.
        capacity: networks kept (least recently used dropped first).
        results_per_network: results kept per network (least recently used dropped first).

    Thread-safe: the web app runs jobs from several threads.
    """

    def __init__(
        self,
        builder: Builder | None = None,
        *,
        capacity: int = 2,
        results_per_network: int = 16,
    ) -> None:
        self.builder: Builder = builder or build_network
        self.capacity = capacity
        self.results_per_network = results_per_network
        self._nets: OrderedDict[NetworkSpec, VGGFeatures] = OrderedDict()
        self._results: dict[NetworkSpec, OrderedDict[Hashable, Any]] = {}
        self._models: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.RLock()
        #: Networks built so far (for tests and reports).
        self.builds = 0

    def network(self, spec: NetworkSpec, last_layer: str) -> VGGFeatures:
        """The network for ``spec`` reaching at least ``last_layer``, built on first use."""
        with self._lock:
            net = self._nets.get(spec)
            depth = LAYER_NAMES.index(last_layer)
            if net is None or LAYER_NAMES.index(net.layer_names[-1]) < depth:
                net = self._build(spec, last_layer)
                self._nets[spec] = net
                self._results.pop(spec, None)
                while len(self._nets) > self.capacity:
                    old, _ = self._nets.popitem(last=False)
                    self._results.pop(old, None)
            self._nets.move_to_end(spec)
            return net

    def _build(self, spec: NetworkSpec, last_layer: str) -> VGGFeatures:
        # padding is passed only when it is not the default, so that builders with the
        # shorter signature (a test's tiny network) keep working.
        extra = {"padding": spec.padding} if spec.padding != "replicate" else {}
        net = self.builder(  # type: ignore[call-arg]
            spec.weights, spec.pooling, last_layer, spec.device, spec.normalize, **extra
        )
        # The network's own precision and layout (pixels, Grams and losses stay float32).
        if spec.precision is not None:
            net.set_precision(spec.precision)
        layout = memory_format(torch.device(spec.device))
        net = net.to(memory_format=layout)  # type: ignore[call-overload]
        self.builds += 1
        built: VGGFeatures = net
        return built

    def result(self, spec: NetworkSpec, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``'s result for ``key``, computed with ``spec``'s network once and kept
        while that network is (results never outlive the network they came from)."""
        return self._kept(
            lambda: self._results.setdefault(spec, OrderedDict()),
            key,
            compute,
            self.results_per_network,
        )

    def model(self, key: Hashable, load: Callable[[], T]) -> T:
        """A network that is not built from a spec (a feed-forward model read from a file),
        ``load()``-ed once for ``key`` (e.g. a digest of the file) and kept like the networks
        (the ``capacity`` most recently used)."""
        return self._kept(lambda: self._models, key, load, self.capacity)

    def _kept(
        self,
        store: Callable[[], OrderedDict[Hashable, Any]],
        key: Hashable,
        compute: Callable[[], T],
        limit: int,
    ) -> T:
        """``compute()``'s value for ``key`` in the least-recently-used ``store()`` of at most
        ``limit`` entries. Computed outside the lock; the store is looked up again afterwards,
        as a network rebuilt meanwhile replaces its results' store."""
        with self._lock:
            kept = store()
            if key in kept:
                kept.move_to_end(key)
                return kept[key]  # type: ignore[no-any-return]
        value = compute()
        with self._lock:
            kept = store()
            kept[key] = value
            while len(kept) > limit:
                kept.popitem(last=False)
        return value

    def clear(self) -> None:
        """Drop every network, model and result."""
        with self._lock:
            self._nets.clear()
            self._results.clear()
            self._models.clear()


_default: NetworkCache | None = None
_default_lock = threading.Lock()


def default_cache() -> NetworkCache:
    """The process's shared cache (created on first use), used where no cache is passed."""
    global _default
    with _default_lock:
        if _default is None:
            _default = NetworkCache()
        return _default


def set_default_cache(cache: NetworkCache | None) -> NetworkCache | None:
    """Replace the process's shared cache (None: a fresh one on next use); returns the old."""
    global _default
    with _default_lock:
        old, _default = _default, cache
        return old
