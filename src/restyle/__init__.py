"""restyle: neural style transfer after Gatys, Ecker & Bethge (CVPR 2016).

Explicit re-exports only; importing this package reads no file and downloads nothing.
"""

from .api import stylize, stylize_iter
from .config import Settings
from .errors import RestyleError
from .optim.progress import Progress
from .tasks.stylize import StyleRun

__all__ = ["Progress", "RestyleError", "Settings", "StyleRun", "stylize", "stylize_iter"]
__version__ = "0.1.0"
