"""Image checks that trust the bytes, not the file name: format, size, bombs, truncation, EXIF orientation."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from shared.dataset.problems import Rejected

SUPPORTED_FORMATS = ("JPEG", "PNG")
EXIF_ORIENTATION_TAG = 0x0112
_SWAPS_AXES = {5, 6, 7, 8}


@dataclass(frozen=True)
class ImageFacts:
    format: str
    stored_width: int
    stored_height: int
    orientation: int = 1

    @property
    def width(self) -> int:
        """Width as a person sees the image (EXIF orientation applied)."""
        return self.stored_height if self.orientation in _SWAPS_AXES else self.stored_width

    @property
    def height(self) -> int:
        return self.stored_width if self.orientation in _SWAPS_AXES else self.stored_height


def inspect_image(data: bytes, *, max_pixels: int, max_bytes: int) -> ImageFacts:
    """Decode the whole image once; raise Rejected with a reason a person can act on."""
    if len(data) > max_bytes:
        raise Rejected("file", f"image is {len(data)} bytes, above MAX_IMAGE_BYTES={max_bytes}")
    if not data:
        raise Rejected("file", "image file is empty")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=SUPPORTED_FORMATS)
        except UnidentifiedImageError:
            raise Rejected("content", f"not a JPEG or PNG image (file starts with {data[:8]!r})") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise Rejected("size", f"decompression bomb refused: {exc}") from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise Rejected("content", f"truncated or corrupt image header: {exc}") from None
    with image:
        width, height = image.size
        if width * height > max_pixels:
            raise Rejected(
                "size",
                f"decompression bomb refused: {width}x{height} = {width * height} pixels, "
                f"above MAX_IMAGE_PIXELS={max_pixels}",
            )
        orientation = _orientation(image)
        try:
            image.load()
        except (OSError, SyntaxError, ValueError) as exc:
            raise Rejected("content", f"truncated or corrupt {image.format} data: {exc}") from None
        return ImageFacts(image.format, width, height, orientation)


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(EXIF_ORIENTATION_TAG, 1)
    except Exception:  # a broken EXIF block must not hide an otherwise good image
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def stored_box_to_display(
    box: tuple[float, float, float, float], orientation: int, stored_size: tuple[int, int]
) -> tuple[float, float, float, float]:
    """Map a box drawn on the stored pixels to the frame a viewer sees after EXIF orientation."""
    width, height = stored_size
    xmin, ymin, xmax, ymax = box
    points = [_stored_point_to_display(x, y, orientation, width, height) for x, y in ((xmin, ymin), (xmax, ymax))]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return min(xs), min(ys), max(xs), max(ys)


def _stored_point_to_display(x: float, y: float, orientation: int, w: int, h: int) -> tuple[float, float]:
    return {
        1: (x, y),
        2: (w - x, y),
        3: (w - x, h - y),
        4: (x, h - y),
        5: (y, x),
        6: (h - y, x),
        7: (h - y, w - x),
        8: (y, w - x),
    }[orientation]
