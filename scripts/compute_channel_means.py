"""Regenerate src/restyle/data/vgg19_bundled_means.pt: the mean ReLU activation of every filter
of the bundled VGG19 over the natural photos in scikit-image's wheel, for both pooling kinds.

    python scripts/compute_channel_means.py
"""

from __future__ import annotations

from pathlib import Path

import torch

from restyle.net.vgg import channel_means, reference_images
from restyle.net.weights import fold_input_convention, load_weights


def main() -> None:
    w = load_weights("bundled")
    convs = fold_input_convention(w.convs, w.convention)
    images = reference_images()
    out = {pooling: channel_means(convs, pooling, images) for pooling in ("avg", "max")}
    path = (
        Path(__file__).resolve().parents[1] / "src" / "restyle" / "data" / "vgg19_bundled_means.pt"
    )
    torch.save(out, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
