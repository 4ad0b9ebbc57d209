import io
import random

import pytest
from PIL import Image, ImageDraw, ImageOps

from local_mode.demo_data import jpeg_bytes
from shared.dataset.images import inspect_image, stored_box_to_display
from shared.dataset.problems import Rejected

LIMITS = {"max_pixels": 40_000_000, "max_bytes": 10 * 1024 * 1024}


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_format_comes_from_the_bytes_not_the_name():
    facts = inspect_image(png_bytes(Image.new("RGB", (30, 20))), **LIMITS)  # a PNG however it is named
    assert (facts.format, facts.width, facts.height, facts.orientation) == ("PNG", 30, 20, 1)


@pytest.mark.parametrize("data", [b"GIF89a" + bytes(50), b"not an image at all", b"\x89PNG\r\n\x1a\n garbage"])
def test_non_images_and_other_formats_are_refused(data):
    with pytest.raises(Rejected) as info:
        inspect_image(data, **LIMITS)
    assert info.value.field == "content"
    assert "JPEG or PNG" in info.value.reason or "corrupt" in info.value.reason


def test_gif_is_refused_even_though_pillow_reads_it():
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buffer, "GIF")
    with pytest.raises(Rejected, match="not a JPEG or PNG"):
        inspect_image(buffer.getvalue(), **LIMITS)


def test_truncated_jpeg_is_refused():
    data = jpeg_bytes(Image.effect_noise((64, 64), 50).convert("RGB"))
    with pytest.raises(Rejected) as info:
        inspect_image(data[: len(data) // 2], **LIMITS)
    assert info.value.field == "content" and "truncated" in info.value.reason


def test_decompression_bomb_is_refused_before_decoding():
    # A 20000x20000 PNG compresses to a few hundred KB; decoding it would take 1.2 GB.
    bomb = png_bytes(Image.new("L", (20000, 20000)))
    with pytest.raises(Rejected) as info:
        inspect_image(bomb, max_pixels=10_000_000, max_bytes=50 * 1024 * 1024)
    assert info.value.field == "size" and "decompression bomb" in info.value.reason


def test_empty_and_oversized_files():
    with pytest.raises(Rejected, match="empty"):
        inspect_image(b"", **LIMITS)
    with pytest.raises(Rejected, match="MAX_IMAGE_BYTES=10"):
        inspect_image(b"x" * 11, max_pixels=100, max_bytes=10)


def _with_orientation(image: Image.Image, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return jpeg_bytes(image, quality=95, exif=exif.tobytes())


@pytest.mark.parametrize("orientation", range(1, 9))
def test_stored_boxes_map_to_the_displayed_frame(orientation):
    """Draw a red block on the stored pixels; after EXIF transposition it must sit where the mapping says."""
    stored = Image.new("RGB", (80, 50), "white")
    box = (10, 5, 30, 20)
    ImageDraw.Draw(stored).rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill="red")
    data = _with_orientation(stored, orientation)
    facts = inspect_image(data, **LIMITS)
    assert facts.orientation == orientation
    shown = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    assert shown.size == (facts.width, facts.height)
    pixels = shown.load()
    found = [(x, y) for x in range(shown.width) for y in range(shown.height)
             if pixels[x, y][0] > 150 and pixels[x, y][1] < 100]
    xs, ys = [p[0] for p in found], [p[1] for p in found]
    expected = stored_box_to_display(box, orientation, (80, 50))
    assert (min(xs), min(ys), max(xs) + 1, max(ys) + 1) == pytest.approx(expected, abs=1)


def test_random_boxes_round_trip_through_all_orientations():
    rng = random.Random(1)
    for _ in range(100):
        w, h = rng.randint(10, 200), rng.randint(10, 200)
        x0, y0 = rng.uniform(0, w - 1), rng.uniform(0, h - 1)
        box = (x0, y0, rng.uniform(x0 + 0.5, w), rng.uniform(y0 + 0.5, h))
        for orientation in range(1, 9):
            out = stored_box_to_display(box, orientation, (w, h))
            span_w, span_h = (h, w) if orientation >= 5 else (w, h)
            assert 0 <= out[0] < out[2] <= span_w and 0 <= out[1] < out[3] <= span_h
            assert (out[2] - out[0]) * (out[3] - out[1]) == pytest.approx((box[2] - box[0]) * (box[3] - box[1]))
