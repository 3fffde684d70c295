"""Exceptions raised by the runtime. Every message says what was wrong and what to do.

    EdgeportError
    ├── InputError (ValueError)            the input given to a model is not what it takes
    │   ├── ShapeError                     wrong rank or shape
    │   ├── DtypeError                     wrong element type (floats for token ids, strings, ...)
    │   ├── ValueRangeError                token ids outside the vocabulary, NaN or inf
    │   ├── EmptyBatchError                nothing to run
    │   └── ImageError                     an image that cannot be read
    ├── UsageError (ValueError)            a bad option (backend, threads, a file that is no model)
    │   └── MissingBundleError             the bundle or model path does not exist (also a ModelFileError)
    ├── ModelFileError                     missing, truncated or corrupt model file
    │   └── Damaged                        a .tflite offset points outside the file (backends.tflite_verify)
    ├── ManifestError                      invalid manifest, or one that points outside its bundle
    ├── EngineMissingError (ImportError)   no engine installed (names the pip extra)
    ├── EngineUnsupportedError             the engine is too old for the model's operators
    ├── InferenceError (RuntimeError)      the engine failed while running a valid input
    ├── TrustError                         a fleet update or bundle its signed metadata does not vouch for
    └── UpdateError                        a fleet update that could not be installed (download, golden samples)
"""


class EdgeportError(Exception):
    """Base class of every error edgeport raises on purpose."""


class InputError(EdgeportError, ValueError):
    """The input given to a model is not what the model takes (rank, shape, dtype, values)."""


class ShapeError(InputError):
    """The input has the wrong rank or shape."""


class DtypeError(InputError):
    """The input has an element type the model cannot take."""


class ValueRangeError(InputError):
    """The input holds values the model cannot take: token ids out of range, NaN or inf."""


class EmptyBatchError(InputError):
    """The batch holds no items."""


class ImageError(InputError):
    """An image file or object cannot be read or has an unusable layout."""


class UsageError(EdgeportError, ValueError):
    """An option is invalid (unknown backend, bad thread count, a path that is no model)."""


class ModelFileError(EdgeportError):
    """A model file is missing, truncated, corrupt, or does not match its manifest."""


class MissingBundleError(ModelFileError, UsageError):
    """The path given as a bundle or model does not exist: a usage error (exit 2) in every command."""


class ManifestError(EdgeportError):
    """A manifest is missing, invalid, or points outside its bundle."""


class EngineMissingError(EdgeportError, ImportError):
    """No installed inference engine can run this kind of model."""


class EngineUnsupportedError(EdgeportError):
    """The installed engine cannot run this model (an operator it does not know)."""


class InferenceError(EdgeportError, RuntimeError):
    """The engine failed while running an input that passed every check."""


class TrustError(EdgeportError):
    """Signed metadata does not vouch for what was offered: a bad or untrusted signature, a replayed
    (older) or expired version, a target whose bytes differ, a bundle no signed target lists."""


class UpdateError(EdgeportError):
    """A fleet update that was verified but could not be installed: the download failed or stopped,
    or its golden samples do not match on this device. The live bundle is left as it was."""
