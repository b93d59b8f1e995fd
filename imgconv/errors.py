"""The exceptions imgconv raises.

Every failure a user can cause is one of these, with a message that names the
bad value and says what was expected. The command line turns them into one
``Error:`` line and an exit code: 2 for a usage error (a value the user gave
is wrong), 1 for a runtime failure (an image could not be read or written).
Nothing here imports click, so the core can raise them too.
"""

from __future__ import annotations


class ImgconvError(Exception):
    """Base class: a failure with a message meant for the user."""

    #: Exit status of the command line for this kind of failure.
    exit_code: int = 1


class UsageError(ImgconvError, ValueError):
    """A value given by the user is malformed or impossible (exit 2)."""

    exit_code = 2


class KernelError(UsageError):
    """A kernel name, matrix, file or parameter is not usable."""


class GeometryError(UsageError):
    """Padding, stride, dilation or anchor do not fit the image and kernel."""


class FormatError(UsageError):
    """OUTPUT's format cannot hold the result: float samples, a map per kernel...

    ``formats`` names, in suffix form, the formats the message suggests, so
    that the command line can say how to choose one for standard output,
    which has no suffix.
    """

    def __init__(self, message: str, formats: tuple[str, ...]) -> None:
        super().__init__(message)
        self.formats = formats


class ImageReadError(ImgconvError):
    """An input image cannot be read: missing, unreadable, corrupt or empty."""


class ImageWriteError(ImgconvError):
    """An output cannot be written: bad directory, permissions, full disk."""
