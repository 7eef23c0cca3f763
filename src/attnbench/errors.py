"""Errors that end a stage with one readable line and a non-zero exit."""


class AttnbenchError(Exception):
    """Base class: the message alone is shown to the user, without a traceback."""


class ConfigError(AttnbenchError):
    """params.yaml is missing, unreadable, or holds a wrong value."""


class DataFileError(AttnbenchError):
    """A prepared data or weights file is missing or corrupt."""


class TrainingDiverged(AttnbenchError):
    """The training loss became NaN or infinite."""


class TrackingError(AttnbenchError):
    """The MLflow tracking store cannot be reached or used."""


class ClusterError(AttnbenchError):
    """The Dask scheduler cannot be reached, or none of its workers can take the study's jobs."""


class StorageError(AttnbenchError):
    """An output cannot be written: a full disk, a read-only folder, no permission."""
