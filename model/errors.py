"""Typed errors of the model package. Each message is a sentence a technician can act on."""


class ModelError(Exception):
    """Base class for every error the model package raises on purpose."""


class ModelLoadError(ModelError):
    """A model directory is missing, incomplete, tampered with or of an unknown format."""


class DeviceError(ModelError):
    """The requested compute device (e.g. CUDA) is not available."""


class DataError(ModelError):
    """A training or evaluation data folder is unusable."""


class RemovedOptionError(DataError):
    """A recorded recipe used a training option labapp-train no longer has, so it cannot be
    repeated (--refit)."""


class BackendMissingError(ModelError):
    """A runtime library (torch or onnxruntime) needed for the requested work is not installed."""
