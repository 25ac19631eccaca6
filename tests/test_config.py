"""Settings: defaults in one place, and one-line errors for nonsense."""

from __future__ import annotations

import json

import pytest

from restyle import RestyleError, Settings
from restyle.config import PAPER_CONTENT_LAYERS, PAPER_STYLE_LAYERS


def test_defaults_are_the_papers_layers_and_pooling() -> None:
    s = Settings()
    assert s.content_layers == PAPER_CONTENT_LAYERS == ("relu4_2",)
    assert s.style_layers == PAPER_STYLE_LAYERS
    assert s.pooling == "avg" and s.optimizer == "lbfgs" and s.normalize


def test_style_strength_scales_beta() -> None:
    s = Settings(style_weight=2.0, style_strength=3.0)
    assert s.beta == 6.0 and s.alpha == s.content_weight


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"size": 0}, "size"),
        ({"size": 100000}, "size"),
        ({"iterations": -5}, "iterations"),
        ({"content_weight": -1.0}, "content_weight"),
        ({"style_weight": float("nan")}, "style_weight"),
        ({"style_strength": 0.0}, "style_strength"),
        ({"pooling": "median"}, "pooling"),
        ({"optimizer": "sgd"}, "optimizer"),
        ({"color": "sepia"}, "color"),
        ({"style_layers": ("relu9_9",)}, "relu9_9"),
        ({"style_layer_weights": (1.0,)}, "style_layer_weights"),
        ({"style_blend": (0.0, 0.0)}, "blend"),
        ({"seed": -1}, "seed"),
        ({"style_scale": 100.0}, "style_scale"),
        ({"content_layers": (), "style_layers": ()}, "layer"),
    ],
)
def test_nonsense_is_rejected_in_one_line(changes: dict[str, object], needle: str) -> None:
    with pytest.raises(RestyleError) as e:
        Settings().replace(**changes)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_settings_serialise_to_json() -> None:
    s = Settings(size=300, style_blend=(0.7, 0.3))
    d = json.loads(s.to_json())
    assert d["size"] == 300 and d["style_blend"] == [0.7, 0.3]
    assert "extra" not in d
