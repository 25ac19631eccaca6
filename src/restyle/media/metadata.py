"""What restyle stores in the files it writes: the run's settings and the input names."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..config import Settings


def output_metadata(
    settings: Settings,
    content: str | None,
    styles: Sequence[str],
    method: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """What is stored in the output file: the settings and the input names, as JSON.

    ``method``, when given, records how a feed-forward output was made (e.g. ``{"method":
    "instant", "strength": 0.8}``); outputs of the optimisation have none.
    """
    from .. import __version__

    info = {
        "version": __version__,
        "content": content,
        "styles": list(styles),
        "settings": settings.to_dict(),
    }
    if method is not None:
        info["method"] = dict(method)
    return {"restyle": json.dumps(info, sort_keys=True), "Software": f"restyle {__version__}"}
