"""edgeport's device runtime: numpy, one inference engine and Pillow; never TensorFlow or Keras.

    from edgeport import runtime
    model = runtime.load("artifacts/imdb", variant="tflite-int8")
    model.predict(["a great film"])   # raw input → float32 probabilities
    model.classify(["a great film"])  # → [("positive", 0.91)]
"""

from edgeport.runtime import errors
from edgeport.runtime.api import Model, load

__all__ = ["Model", "errors", "load"]
