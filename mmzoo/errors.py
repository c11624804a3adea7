"""One exception type for every problem a user can fix; the CLI prints it as one line."""


class MmzooError(Exception):
    """A user-facing error: bad input, missing run, unknown model, broken file."""

    exit_code = 1


class UsageError(MmzooError):
    """A command line that asks for something impossible (a bad option value): exit code 2, like click's."""

    exit_code = 2


def os_error_line(exc: OSError) -> str:
    """An OSError as one line: 'No space left on device: runs/x/model.json'."""
    where = f": {exc.filename}" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"
