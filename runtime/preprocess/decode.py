"""Images → uint8 pixels at the model's size, as `keras.utils.load_img` decodes them. No TensorFlow: Pillow.

`load_img` (RGB, resize to (width, height) with the training interpolation, no EXIF rotation) +
`img_to_array`; `ImagePreprocessor` (`preprocess.image`) normalises what this gives.

Limits (`runtime.limits`): an image is sized from its header before a pixel is decoded and refused
above `MAX_IMAGE_PIXELS`. A JPEG is decoded in draft mode at 1/2, 1/4 or 1/8 scale when it is at least
four times the model's size each way (`JPEG_DRAFT`: camera photos) or when that brings it under the
limit: then, and only then, its pixels differ from Keras' full decode (`decode_scale`). A file is read
only when it is a regular file of at most `MAX_IMAGE_FILE_BYTES`.

`IMAGE_SUFFIXES` is defined here once; training imports it.
"""

from __future__ import annotations

import functools
import io
import os
import stat
import warnings
from typing import Any, Sequence

import numpy as np

from edgeport.runtime import limits
from edgeport.runtime.errors import DtypeError, EdgeportError, EngineMissingError, ImageError, ValueRangeError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")  # files Pillow decodes
READABLE = "JPEG, PNG, BMP, GIF, WebP, TIFF"


@functools.lru_cache(maxsize=1)
def _pil():
    try:
        from PIL import Image
    except ImportError:
        raise EngineMissingError("reading images needs Pillow: pip install 'edgeport[image]'") from None
    # Pillow warns from Image.open above its own limit (89 megapixels); this runtime refuses or drafts
    # above limits.MAX_IMAGE_PIXELS before decoding, so the warning says nothing more (set once: a
    # per-call warnings.catch_warnings is not thread-safe).
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    return Image


def _resample(interpolation: str) -> int:
    Image = _pil()
    return getattr(getattr(Image, "Resampling", Image), interpolation.upper())


def load_image(item: Any, size: tuple[int, int], interpolation: str = "bilinear",
               keep_aspect_ratio: bool = False, draft: bool | None = None) -> np.ndarray:
    """A path, file bytes, PIL image or HxWx3 array → float32 (height, width, 3) pixels in 0..255.

    `img_to_array(load_img(path, target_size=size, interpolation=...))`: RGB conversion, resize only
    when the size differs, no EXIF rotation. Float arrays are taken as 0..255 pixels. A JPEG at least
    four times the target size each way is decoded at 1/2, 1/4 or 1/8 first (`decode_scale`;
    `draft=False` or `limits.JPEG_DRAFT` turns that off): the same picture, within a few grey levels.
    """
    return load_pixels(item, size, interpolation, keep_aspect_ratio, draft).astype(np.float32, copy=False)


def load_pixels(item: Any, size: tuple[int, int], interpolation: str = "bilinear",
                keep_aspect_ratio: bool = False, draft: bool | None = None,
                lut: bytes | Sequence[int] | None = None) -> np.ndarray:
    """`load_image`'s pixels as decoded: uint8 (height, width, 3), or float32 for a float array.
    `lut` (a `PixelTable.lut`) maps each decoded byte before the pixels are returned: 256 bytes, one map
    for every channel (applied by `bytes.translate`), or 768 values, 256 per channel (`Image.point`).
    A float array is returned as it is."""
    Image = _pil()
    height, width = size
    if isinstance(item, np.ndarray) and item.dtype.kind == "f":
        return _resize_float_array(item, size, interpolation)
    image = _open_image(item, Image)
    try:
        declared, scale = image.size, 1
        if not isinstance(item, Image.Image):
            scale = _prepare_decode(image, item, (width, height) if _drafting(draft) else None)
        if image.mode != "RGB":
            image = image.convert("RGB")
        box = _aspect_crop(declared, (width, height)) if keep_aspect_ratio else None
        if scale > 1:  # the crop, or the whole picture, in the reduced image's coordinates (blocks cut at the edge)
            box = tuple(v / scale for v in (box or (0, 0, *declared)))
        if image.size != (width, height) or (scale > 1 and box != (0, 0, *image.size)):
            image = image.resize((width, height), _resample(interpolation), box=box)
        if isinstance(lut, bytes):  # one map for all channels: a C loop over the bytes, no Python per value
            mapped = bytearray(image.tobytes()).translate(lut)
            pixels = np.frombuffer(mapped, dtype=np.uint8).reshape(image.size[1], image.size[0], 3)
        else:
            pixels = np.asarray(image if lut is None else image.point(lut), dtype=np.uint8)
    except EdgeportError:
        raise
    except MemoryError:
        raise ImageError(f"image {_describe(item)} needs more memory than is free to decode") from None
    except Exception as exc:  # noqa: BLE001 — any decoder failure on damaged bytes is an unreadable image
        raise ImageError(f"cannot read image {_describe(item)}: {type(exc).__name__}: {exc}") from None
    if pixels.shape != (height, width, 3):
        raise ImageError(f"image {_describe(item)} decoded to shape {pixels.shape}, not ({height}, {width}, 3)")
    return pixels


DRAFT_SCALES = (8, 4, 2, 1)  # the reductions a JPEG decoder gives for free (DCT scaling)
DRAFT_MARGIN = 2  # a reduced decode keeps at least twice the target size each way


def decode_scale(declared: tuple[int, int], target: tuple[int, int] | None) -> int:
    """How much a JPEG of `declared` (width, height) pixels is reduced while decoding: 1, 2, 4 or 8.

    The largest reduction that still leaves at least `DRAFT_MARGIN` × `target` (width, height) each
    way, so the final resize still shrinks (and filters) much as from the full decode; 1 without a
    target. Raised further when the image would decode to more than `limits.MAX_IMAGE_PIXELS`; 0 when
    even 1/8 would.
    """
    width, height = declared
    fits = min(width // (DRAFT_MARGIN * target[0]), height // (DRAFT_MARGIN * target[1])) if target else 1
    scale = next(s for s in DRAFT_SCALES if s <= max(fits, 1))
    while scale <= 8 and -(-width // scale) * -(-height // scale) > limits.MAX_IMAGE_PIXELS:
        scale *= 2
    return scale if scale <= min(8, width, height) else 0


def decoded_size(item: Any, size: tuple[int, int], draft: bool | None = None) -> tuple[int, int]:
    """(width, height) `load_image(item, size)` decodes `item` at before resizing it to `size`
    (height, width): smaller than the file's for a JPEG well above `size`. Nothing is decoded."""
    Image = _pil()
    if isinstance(item, np.ndarray):
        return (item.shape[1], item.shape[0]) if item.ndim >= 2 else (0, 0)
    image = _open_image(item, Image)
    if not isinstance(item, Image.Image):
        try:
            _prepare_decode(image, item, (size[1], size[0]) if _drafting(draft) else None)
        except EdgeportError:
            raise
        except Exception as exc:  # noqa: BLE001 — as load_image: a damaged header is an unreadable image
            raise ImageError(f"cannot read image {_describe(item)}: {type(exc).__name__}: {exc}") from None
    return image.size


def _drafting(draft: bool | None) -> bool:
    return limits.JPEG_DRAFT if draft is None else bool(draft)


def _prepare_decode(image: Any, item: Any, target: tuple[int, int] | None) -> int:
    """Size an opened image from its header, before decoding: a JPEG is set to decode at reduced size
    (`decode_scale`, Pillow's draft mode), any image above `limits.MAX_IMAGE_PIXELS` after that is
    refused. Returns the reduction (1 when none)."""
    limit = limits.MAX_IMAGE_PIXELS
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageError(f"image {_describe(item)} declares an empty size {width}×{height}")
    scale = 1
    if image.format == "JPEG":
        scale = decode_scale((width, height), target)
        if scale > 1:
            image.draft("RGB", (width // scale, height // scale))  # Pillow picks this very scale from that size
            # what the decoder will do (it may decline: full size), read back from the size it now declares
            scale = next((s for s in DRAFT_SCALES if image.size == (-(-width // s), -(-height // s))), 1)
    if scale and image.size[0] * image.size[1] <= limit:
        return scale
    raise ImageError(f"image {_describe(item)} is {width}×{height} = {width * height:,} pixels, more than the "
                     f"{limit:,} this runtime decodes (limits.MAX_IMAGE_PIXELS, EDGEPORT_MAX_IMAGE_PIXELS); "
                     "scale it down before sending it")


def _open_image(item: Any, Image) -> Any:
    if isinstance(item, Image.Image):
        return item
    if isinstance(item, np.ndarray):
        if item.dtype != np.uint8 or item.ndim not in (2, 3) or (item.ndim == 3 and item.shape[2] not in (1, 3, 4)):
            raise ImageError(
                f"an image array must be HxWx3 uint8 (or float 0..255), got shape {item.shape} {item.dtype}"
            )
        return Image.fromarray(item[..., 0] if item.ndim == 3 and item.shape[2] == 1 else item)
    try:
        data = None
        if isinstance(item, (bytes, bytearray, memoryview)):
            data = bytes(item)
        elif isinstance(item, (str, os.PathLike)):
            data = _read_image_file(item)  # as load_img does: the whole file, then decode
        if data is not None:
            if not data:
                raise ImageError(f"{_named(item)} is empty (0 bytes), not an image; pass a photo ({READABLE})")
            return _open_header(data, Image)
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(f"image file {os.fspath(item)!r} does not exist") from None
    except Image.UnidentifiedImageError:
        raise ImageError(f"{_named(item)} is not an image Pillow can read ({READABLE}); pass a photo in one of "
                         "those formats") from None
    except IsADirectoryError:
        raise ImageError(f"{os.fspath(item)!r} is a directory, not an image file") from None
    except (ValueError, TypeError) as exc:  # e.g. a path with a NUL character
        raise ImageError(f"cannot open image {_describe(item)}: {exc}") from None
    except OSError as exc:
        raise ImageError(f"cannot read image {_describe(item)}: {exc}") from None
    raise DtypeError(f"cannot use a {type(item).__name__} as an image: pass a path, PIL image or HxWx3 array")


def _read_image_file(path: str | os.PathLike) -> bytes:
    """The bytes of a regular file, at most `limits.MAX_IMAGE_FILE_BYTES`: never a device, FIFO or socket
    (`/dev/zero` would be read until memory runs out)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO would block an open() without it
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ImageError(f"{os.fspath(path)!r} is not a regular file (a device, FIFO or socket); pass an image file")
        if info.st_size > limits.MAX_IMAGE_FILE_BYTES:
            raise ImageError(f"{os.fspath(path)!r} is {info.st_size:,} bytes, more than the "
                             f"{limits.MAX_IMAGE_FILE_BYTES:,} an image file may be (limits.MAX_IMAGE_FILE_BYTES)")
        return handle.read(limits.MAX_IMAGE_FILE_BYTES + 1)


def _named(item: Any) -> str:
    return f"{os.fspath(item)!r}" if isinstance(item, (str, os.PathLike)) else f"the data given ({type(item).__name__})"


def _open_header(data: bytes, Image) -> Any:
    """`Image.open` (which reads only the header): Pillow's own decompression-bomb check is replaced by
    `_prepare_decode`, which can still draft a JPEG Pillow would refuse outright."""
    try:
        return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        if data[:3] != b"\xff\xd8\xff":
            raise ImageError(f"image declares more than {Image.MAX_IMAGE_PIXELS * 2:,} pixels, far more than the "
                             f"{limits.MAX_IMAGE_PIXELS:,} this runtime decodes (limits.MAX_IMAGE_PIXELS)") from None
    from PIL import JpegImagePlugin

    try:
        return JpegImagePlugin.JpegImageFile(io.BytesIO(data))  # the header only, without Pillow's bomb check
    except Exception as exc:  # noqa: BLE001
        raise ImageError(f"cannot read a JPEG header: {type(exc).__name__}: {exc}") from None


def _resize_float_array(array: np.ndarray, size: tuple[int, int], interpolation: str) -> np.ndarray:
    if array.ndim != 3 or array.shape[2] != 3:
        raise ImageError(f"a float image array must be HxWx3, got shape {array.shape}")
    array = array.astype(np.float32, copy=False)
    if not np.all(np.isfinite(array)):
        raise ValueRangeError("an image array holds NaN or inf; pass finite pixel values 0..255")
    if array.shape[:2] == tuple(size):
        return array
    Image = _pil()
    height, width = size
    channels = [
        np.asarray(Image.fromarray(np.ascontiguousarray(array[..., c])).resize((width, height), _resample(interpolation)))
        for c in range(3)
    ]
    return np.stack(channels, axis=-1).astype(np.float32)


def _aspect_crop(current: tuple[int, int], target: tuple[int, int]) -> tuple[int, int, int, int]:
    """The centre crop `load_img(keep_aspect_ratio=True)` takes before resizing."""
    width, height = current
    target_width, target_height = target
    crop_height = (width * target_height) // target_width
    crop_width = (height * target_width) // target_height
    crop_height, crop_width = min(height, crop_height), min(width, crop_width)
    x, y = (width - crop_width) // 2, (height - crop_height) // 2
    return (x, y, x + crop_width, y + crop_height)


def _describe(item: Any) -> str:
    return repr(os.fspath(item)) if isinstance(item, (str, os.PathLike)) else f"({type(item).__name__})"
