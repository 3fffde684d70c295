"""Exceptions raised by the runtime. Every message says what was wrong and what to do."""


class EdgeportError(Exception):
    """Base class of every error edgeport raises on purpose."""


class InputError(EdgeportError, ValueError):
    """The input given to a model is not what the model takes (rank, shape, dtype, values)."""


class ModelFileError(EdgeportError):
    """A model file is missing, truncated, corrupt, or does not match its manifest."""


class ManifestError(EdgeportError):
    """A manifest is missing, invalid, or points outside its bundle."""


class EngineMissingError(EdgeportError, ImportError):
    """No installed inference engine can run this kind of model."""


class EngineUnsupportedError(EdgeportError):
    """The installed engine cannot run this model (an operator it does not know)."""
