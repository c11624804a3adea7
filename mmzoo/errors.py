"""One exception type for every problem a user can fix; the CLI prints it as one line."""


class MmzooError(Exception):
    """A user-facing error: bad input, missing run, unknown model, broken file."""
