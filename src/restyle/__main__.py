"""``python -m restyle``."""

from .cli import run

run()
