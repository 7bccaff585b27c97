"""Where library functions print their messages and progress bars by default.

A default argument ``stream=sys.stderr`` is evaluated once, when the module is imported: the
function then keeps writing to the object ``sys.stderr`` was at that moment, past any later
``contextlib.redirect_stderr`` or pytest's capture. Functions that print take
``stream: MessageStream = STDERR`` (or ``STDOUT``) instead and call :func:`resolve_stream` when
they run, which looks ``sys.stderr`` up then.
"""

from __future__ import annotations

import sys
from typing import Final, Literal, TextIO, TypeAlias


class StandardStream:
    """A stand-in for ``sys.stderr`` or ``sys.stdout``, looked up by :func:`resolve_stream`."""

    __slots__ = ("name",)

    def __init__(self, name: Literal["stderr", "stdout"]) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"sys.{self.name}"


#: The default ``stream``: ``sys.stderr`` as it is when the function runs.
STDERR: Final = StandardStream("stderr")
#: ``sys.stdout`` as it is when the function runs.
STDOUT: Final = StandardStream("stdout")

#: A ``stream`` argument: a text stream, :data:`STDERR`/:data:`STDOUT`, or None (silent).
MessageStream: TypeAlias = "TextIO | StandardStream | None"


def resolve_stream(stream: MessageStream) -> TextIO | None:
    """The text stream a function prints to: ``sys.stderr``/``sys.stdout`` as they are now for
    :data:`STDERR`/:data:`STDOUT`, else ``stream`` itself (None: print nothing)."""
    if isinstance(stream, StandardStream):
        return sys.stderr if stream.name == "stderr" else sys.stdout
    return stream
