"""Exceptions of the quiver package: one class per library status code.

Every error the library returns as a ``quiver::Status`` is raised as the class
registered here for its code, with the library's message unchanged (it names
the offending field and the expected value). All derive from :class:`Error`;
where a built-in exception means the same thing, the class derives from it too,
so ``except ValueError`` or ``except KeyError`` keep working.

The native module reads :data:`STATUS_CLASSES` when it is imported; a code
added to ``include/quiver/status.h`` needs its class here (the import fails
otherwise, naming the code).
"""

from __future__ import annotations


class Error(Exception):
    """Base of every exception quiver raises for a library status.

    ``code`` is the stable lower-case name of the status code
    (``"invalid_argument"``, ``"not_found"``, ...); ``str(error)`` is the
    library's message.
    """

    code = "unknown"

    # KeyError quotes its message in str(); every quiver error prints it as is.
    __str__ = Exception.__str__


class InvalidArgumentError(Error, ValueError):
    """The caller's input is wrong: shape, dtype, dimensions, NaN, k, a name, ...

    Nothing was written."""

    code = "invalid_argument"


class NotFoundError(Error, KeyError):
    """A collection, record or store that was asked for does not exist."""

    code = "not_found"


class AlreadyExistsError(Error):
    """A collection of that name exists already, or a backup target is not empty."""

    code = "already_exists"


class CorruptionError(Error):
    """Stored bytes fail a checksum or format check (a torn or foreign file)."""

    code = "corruption"


class StorageIOError(Error, OSError):
    """The operating system or SQLite reported an I/O error.

    A write that raised this is indeterminate: it may or may not be durable."""

    code = "io_error"


class BusyError(Error):
    """Another process holds the store's write LOCK (open ``read_only=True`` to
    read beside it), or SQLite stayed busy."""

    code = "busy"


class NotSupportedError(Error):
    """Not supported in this mode (a write on a read-only store), or a feature
    this build of the library does not have yet (``where=`` filters)."""

    code = "not_supported"


class FailedPreconditionError(Error):
    """The store's state forbids the call: a closed store, a configuration
    mismatch, a collection latched read-only after a failed fsync."""

    code = "failed_precondition"


class InternalError(Error):
    """A bug in Quiver or a dependency; please report it."""

    code = "internal"


class UnavailableError(Error, ConnectionError):
    """A service quiver depends on failed: an embedding server that is down,
    timed out, stayed overloaded, or answered with the wrong count, dimension
    or non-finite values. The message names the server and quotes its reply.
    Nothing was written; retrying later may succeed."""

    code = "unavailable"


STATUS_CLASSES = {
    cls.code: cls
    for cls in (
        InvalidArgumentError,
        NotFoundError,
        AlreadyExistsError,
        CorruptionError,
        StorageIOError,
        BusyError,
        NotSupportedError,
        FailedPreconditionError,
        InternalError,
        UnavailableError,
    )
}
