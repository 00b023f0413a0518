"""Typed errors: library code raises these; only the CLI turns them into exit codes."""


class TsforecastError(Exception):
    """Base class. `exit_code` is what the CLI exits with."""

    exit_code = 1


class DataError(TsforecastError):
    """The input data cannot be used as given (missing file, bad columns, gaps, too short)."""

    exit_code = 2


class GapError(DataError):
    """Missing timestamps or values and no --fill: `found` says how many and where the first
    is; the advice after it is `train`'s, which `predict` replaces with its own."""

    def __init__(self, found: str) -> None:
        super().__init__(f"{found}; repair with --fill interpolate or --fill ffill")
        self.found = found


class ColumnError(DataError):
    """A column an option names (`option`, e.g. --time-col) is not in the table; `columns` are
    the ones it has. `predict` names the model's training columns instead of the option."""

    def __init__(self, option: str, column: str, columns: list[str]) -> None:
        super().__init__(
            f"{option} column {column!r} not found; the columns are: {', '.join(columns)}"
        )
        self.option, self.column, self.columns = option, column, columns


class ConfigError(TsforecastError):
    """An option value or combination of options is invalid."""

    exit_code = 2


class ArtifactError(TsforecastError):
    """A model directory is missing, incomplete or of an unknown format."""

    exit_code = 2


class StateError(TsforecastError):
    """What was asked cannot be done in the state things are in: nothing to roll back to, a
    training run that diverged. Nothing was changed."""

    exit_code = 2


class StorageError(TsforecastError):
    """The registry or model directory cannot be written (disk full, read-only, permissions).
    Nothing that was there before has been changed."""

    exit_code = 1


class LockBusy(TsforecastError):
    """Another run holds the registry lock. 75 is EX_TEMPFAIL (sysexits.h): try again later."""

    exit_code = 75


class PrimaryFailed(TsforecastError):
    """Process 0 of a multi-host run failed at a step it takes alone (writing files, the
    registry); the other processes end with its message and exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Terminated(BaseException):
    """Raised from the SIGTERM handler the CLI installs, so that cleanup code runs on the way
    out. A BaseException like KeyboardInterrupt, so `except Exception` blocks never swallow it."""

    exit_code = 143
