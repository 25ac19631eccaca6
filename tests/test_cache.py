"""Networks built once per process, and a painting's targets computed once per network."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from restyle import Settings
from restyle.net.cache import NetworkCache, NetworkSpec, default_cache, image_digest
from restyle.net.vgg import VGGFeatures
from restyle.tasks.stylize import StyleRun

from .conftest import painting, photo, tiny_builder

FAST = Settings(size=32, iterations=4, min_scale=16, precision="float32")


class CountingBuilder:
    """The tiny network's builder, counting its builds."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(
        self, source: str, pooling: str, last_layer: str, *args: Any, **kw: Any
    ) -> VGGFeatures:
        self.calls.append((pooling, last_layer))
        return tiny_builder(source, pooling, last_layer, *args, **kw)


def _run(cache: NetworkCache, settings: Settings = FAST, style_seed: int = 2) -> StyleRun:
    run = StyleRun(photo(), [painting(seed=style_seed)], settings, networks=cache)
    run.run()
    return run


def test_a_second_run_builds_nothing() -> None:
    builder = CountingBuilder()
    cache = NetworkCache(builder)
    first = _run(cache)
    second = _run(cache)
    assert builder.calls == [("avg", "relu5_1")]
    assert first.networks is cache and second.networks is cache
    # the same settings give the same picture whether or not the network was built afresh
    assert first.image().tobytes() == second.image().tobytes()


def test_networks_are_keyed_by_what_defines_them() -> None:
    builder = CountingBuilder()
    cache = NetworkCache(builder, capacity=2)
    _run(cache)
    _run(cache, FAST.replace(pooling="max"))
    _run(cache, FAST.replace(pooling="max", style_strength=3.0))  # not part of the network
    assert builder.calls == [("avg", "relu5_1"), ("max", "relu5_1")]
    _run(cache, FAST.replace(normalize=False))  # a third: the least recently used goes
    _run(cache, FAST.replace(pooling="max"))
    assert len(builder.calls) == 3
    _run(cache)
    assert len(builder.calls) == 4


def test_a_shallow_network_is_replaced_by_a_deeper_one_not_the_reverse() -> None:
    builder = CountingBuilder()
    cache = NetworkCache(builder)
    spec = NetworkSpec()
    shallow = cache.network(spec, "relu2_1")
    assert cache.network(spec, "relu1_1") is shallow
    deep = cache.network(spec, "relu4_2")
    assert deep is not shallow and cache.network(spec, "relu3_1") is deep
    assert [c[1] for c in builder.calls] == ["relu2_1", "relu4_2"]


def test_a_paintings_targets_are_computed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from restyle.tasks import stylize as task

    calls: list[tuple[int, ...]] = []
    real = task.features_and_grams

    def spy(net: VGGFeatures, image: torch.Tensor, feats: Any, grams: Any, *a: Any) -> Any:
        if grams and not feats:  # the painting's pass (the photo's also reads content layers)
            calls.append(tuple(image.shape))
        return real(net, image, feats, grams, *a)

    monkeypatch.setattr(task, "features_and_grams", spy)
    cache = NetworkCache(CountingBuilder())
    # coarse to fine whatever the tiny network's balance, and no pass over the photo for it
    multi = FAST.replace(multiscale_balance_limit=0)
    _run(cache, multi)
    scales = len(calls)
    assert scales >= 2  # one per coarse-to-fine scale
    _run(cache, multi)  # same painting, same sizes: no new pass over it
    assert len(calls) == scales
    _run(cache, multi, style_seed=7)  # another painting
    assert len(calls) == 2 * scales


def test_runs_use_the_process_cache_unless_given_one(use_tiny_net: None) -> None:
    run = StyleRun(photo(), [painting()], FAST)
    assert run.networks is default_cache()
    mine = NetworkCache(CountingBuilder())
    assert StyleRun(photo(), [painting()], FAST, networks=mine).networks is mine


def test_image_digest_tells_images_apart() -> None:
    a = torch.rand(1, 3, 8, 8)
    assert image_digest(a) == image_digest(a.clone())
    b = a.clone()
    b[0, 0, 0, 0] += 1e-3
    assert image_digest(a) != image_digest(b)
    assert image_digest(a) != image_digest(a.reshape(1, 3, 4, 16))
    assert image_digest(a) != image_digest(a.double())
