"""What restyle stores in the files it writes: the run's settings and the input names."""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..config import Settings


def output_metadata(
    settings: Settings, content: str | None, styles: Sequence[str]
) -> dict[str, str]:
    """What is stored in the output file: the settings and the input names, as JSON."""
    from .. import __version__

    info = {
        "version": __version__,
        "content": content,
        "styles": list(styles),
        "settings": settings.to_dict(),
    }
    return {"restyle": json.dumps(info, sort_keys=True), "Software": f"restyle {__version__}"}
