"""The one exception type that carries a message meant for the user."""

from __future__ import annotations


class RestyleError(Exception):
    """A problem with the user's input or settings.

    The message is a single line written for a person (no traceback needed): the CLI prints it
    as ``restyle: error: <message>`` and exits with status 2, the web app shows it on the page.
    """
