"""edgeport's training stage: Keras models on your own texts and photos, or the lecture's datasets (`edgeport-train`)."""

from edgeport.runtime.native_stderr import install_quiet_tensorflow_import

install_quiet_tensorflow_import()
