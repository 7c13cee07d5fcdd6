"""The error raised when a data set is not available offline."""


class DataNotFoundError(FileNotFoundError):
    """A data set was not found; the message says where we looked and how to provide it."""
