"""A camera picture a gateway sent, checked before anyone's browser sees it. Pure: bytes in, a verdict out.

A gateway's pictures come from outside (DESIGN section 11): every one must decode as a JPEG of sane size
with Pillow, the standard imaging library, or it is set aside like any other record that does not fit.
The console shows pictures in <img>, and the collector serves them as image/jpeg under a CSP that allows
nothing else, so a picture can at worst be a wrong picture.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

__all__ = ["MOST_PIXELS", "Picture", "PictureRefused", "check_picture"]

MOST_PIXELS = 4096 * 4096


class PictureRefused(ValueError):
    pass


@dataclass(frozen=True)
class Picture:
    width: int
    height: int


def check_picture(body: bytes) -> Picture:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(body)) as image:
                if image.format != "JPEG":
                    raise PictureRefused(f"a {image.format} picture, not a JPEG")
                width, height = image.size
                if width * height > MOST_PIXELS:
                    raise PictureRefused(f"{width}x{height} is more pixels than a camera still has")
                image.verify()
    except PictureRefused:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombWarning,
            Image.DecompressionBombError) as exc:
        raise PictureRefused(f"not a picture: {exc}") from None
    return Picture(width, height)
