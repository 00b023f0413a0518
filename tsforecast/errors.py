"""Typed errors: library code raises these; only the CLI turns them into exit codes."""


class TsforecastError(Exception):
    """Base class. `exit_code` is what the CLI exits with."""

    exit_code = 1


class DataError(TsforecastError):
    """The input data cannot be used as given (missing file, bad columns, gaps, too short)."""

    exit_code = 2


class ConfigError(TsforecastError):
    """An option value or combination of options is invalid."""

    exit_code = 2


class ArtifactError(TsforecastError):
    """A model directory is missing, incomplete or of an unknown format."""

    exit_code = 2
