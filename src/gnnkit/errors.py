"""Exceptions shared across layers."""


class UsageError(ValueError):
    """A wrong argument from a user (unknown dataset, bad number, missing files).

    Library functions raise it where the bad input enters; the ``gnnkit`` command reports it as
    one line on stderr with exit status 2 instead of a traceback."""
