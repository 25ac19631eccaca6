"""The one exception type that carries a message meant for the user."""

from __future__ import annotations


class RestyleError(Exception):
    """A problem with the user's input or settings.

    The message is a single line written for a person (no traceback needed): the CLI prints it
    as ``restyle: error: <message>`` and exits with status 2, the web app shows it on the page.
    """


class OutOfMemory(RestyleError):
    """The run needs more memory than the device has (the CLI exits with status 1).

    Raised by the engine when an allocation fails, whatever the device: callers recognise it by
    its type, never by the text of the underlying error.
    """

    DEFAULT = "out of memory; try a smaller --size"

    def __init__(self, message: str = DEFAULT) -> None:
        super().__init__(message)
