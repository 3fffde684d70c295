"""Raw input → model tensors, from the manifest's preprocessing spec. No TensorFlow: Pillow for images.

Texts follow Keras' classic pipeline (`text`, its rules read and checked in `text_spec`, the vocabulary
in `vocabulary`); images follow `keras.utils.load_img` + `img_to_array` (`decode`) and
`mobilenet.preprocess_input` or another normalisation (`image`, its fields checked in `image_spec`).
`make_preprocessor` (`from_manifest`) builds the one a bundle asks for; `as_items` (`items`) turns what
a caller passes into its list of items. Each module states its limits (`runtime.limits`).
"""

from edgeport.runtime.preprocess.decode import (
    DRAFT_MARGIN, DRAFT_SCALES, IMAGE_SUFFIXES, READABLE, decode_scale, decoded_size, load_image, load_pixels,
)
from edgeport.runtime.preprocess.from_manifest import Preprocessor, ReadFile, make_preprocessor
from edgeport.runtime.preprocess.image import CAFFE_MEAN_BGR, ImagePreprocessor, normalize
from edgeport.runtime.preprocess.image_spec import (
    INTERPOLATIONS, NORMALIZATIONS, PIXEL_DTYPES, ImageSpec, checked_image_spec,
)
from edgeport.runtime.preprocess.items import as_items
from edgeport.runtime.preprocess.text import TextPreprocessor, text_to_word_sequence
from edgeport.runtime.preprocess.text_spec import (
    INT32_MAX, KERAS_FILTERS, MEDIAPIPE_SPLIT, SPLIT_PATTERN, TEXT_DEFAULTS, TOKENIZERS, TextSpec, checked_text_spec,
)
from edgeport.runtime.preprocess.vocabulary import load_vocabulary, vocabulary_from_bytes

__all__ = [
    "CAFFE_MEAN_BGR", "DRAFT_MARGIN", "DRAFT_SCALES", "IMAGE_SUFFIXES", "INT32_MAX", "INTERPOLATIONS", "KERAS_FILTERS",
    "MEDIAPIPE_SPLIT", "NORMALIZATIONS", "PIXEL_DTYPES", "READABLE", "SPLIT_PATTERN", "TEXT_DEFAULTS", "TOKENIZERS",
    "ImagePreprocessor", "ImageSpec", "Preprocessor", "ReadFile", "TextPreprocessor", "TextSpec",
    "as_items", "checked_image_spec", "checked_text_spec", "decode_scale", "decoded_size", "load_image",
    "load_pixels", "load_vocabulary", "make_preprocessor", "normalize", "text_to_word_sequence",
    "vocabulary_from_bytes",
]
