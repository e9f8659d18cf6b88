"""Reading image files, with the two ways they go bad told apart.

* undecodable (not an image, or cut so short that no pixels come out): :class:`ImageDecodeError`;
* truncated but decodable (libjpeg fills the missing rows with grey and only prints
  "Premature end of JPEG file"): :func:`truncation` names what is missing, and
  :func:`warn_truncated` logs it once per file with a running count.

Only cv2 and numpy here: the deployment scripts use it without paddle.
"""
import os
import threading

import cv2
import numpy as np

from ppdet.utils.logger import setup_logger

logger = setup_logger(__name__)

__all__ = ['ImageDecodeError', 'read_bytes', 'truncation', 'decode_rgb', 'probe_image',
           'warn_truncated']

# How far from the end the end-of-image marker may sit: some cameras and editors pad
# or append data after it.
_TAIL = 4096

_truncated_seen = set()  # files already warned about in this process
_lock = threading.Lock()


class ImageDecodeError(IOError, ValueError):
    """An image file exists but cannot be decoded (truncated, not an image, ...).

    Also a ValueError, so the scripts report it as a one-line user error.
    """


def read_bytes(path):
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except (OSError, TypeError, ValueError) as e:
        raise ImageDecodeError('cannot read image %s: %s' % (path, e))
    if data.size == 0:
        raise ImageDecodeError('image %s is empty (0 bytes)' % path)
    return data


def truncation(data):
    """What a JPEG or PNG file is missing at its end, or None when it looks complete."""
    head = bytes(data[:8])
    tail = bytes(data[-_TAIL:])
    if head[:2] == b'\xff\xd8' and b'\xff\xd9' not in tail:
        return 'JPEG end-of-image marker (FFD9) missing: the file is cut short'
    if head == b'\x89PNG\r\n\x1a\n' and b'IEND' not in tail[-64:]:
        return 'PNG IEND chunk missing: the file is cut short'
    return None


def _imdecode(data, path, flags):
    try:
        im = cv2.imdecode(data, flags)
    except cv2.error as e:  # e.g. OpenCV's own checks on malformed headers
        raise ImageDecodeError('cannot decode image %s (%d bytes): %s' % (
            path, data.size, str(e).strip().splitlines()[-1]))
    if im is None or im.size == 0:
        raise ImageDecodeError('cannot decode image %s (%d bytes; not an image or truncated)'
                               % (path, data.size))
    return im


def decode_rgb(path, data=None):
    """RGB uint8 HWC of ``path`` (grayscale and alpha images become 3-channel RGB).

    A truncated file that still decodes is returned and warned about (:func:`warn_truncated`).
    """
    data = read_bytes(path) if data is None else data
    im = _imdecode(data, path, cv2.IMREAD_COLOR)
    reason = truncation(data)
    if reason:
        warn_truncated(path, reason)
        return _decode_truncated(data, path)
    return cv2.cvtColor(im, cv2.COLOR_BGR2RGB)


def _decode_truncated(data, path):
    """A cut-short file decoded with the missing part a fixed grey: OpenCV leaves those rows
    as whatever was in memory (measured: the same truncated JPEG decodes to different
    pixels in different processes), PIL fills them with 128."""
    import io
    from PIL import Image, ImageFile
    old = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        with Image.open(io.BytesIO(data.tobytes())) as im:
            return np.asarray(im.convert('RGB'))
    except (OSError, ValueError) as e:
        raise ImageDecodeError('cannot decode truncated image %s: %s' % (path, e))
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = old


def probe_image(path):
    """Cheap full check of one file: -> truncation reason or None; raises ImageDecodeError.

    Decodes at 1/8 size (libjpeg scales in the DCT, so a JPEG costs a fraction of a
    full decode) and checks the end marker.
    """
    data = read_bytes(path)
    try:
        _imdecode(data, path, cv2.IMREAD_REDUCED_GRAYSCALE_8)
    except ImageDecodeError:
        # OpenCV cannot scale images smaller than 8 px down by 8: decode those in full
        _imdecode(data, path, cv2.IMREAD_COLOR)
    return truncation(data)


def warn_truncated(path, reason):
    """Log once per file and process: '<file>: <reason> ... (N truncated image(s) so far)'."""
    key = os.path.abspath(str(path))
    with _lock:
        if key in _truncated_seen:
            return False
        _truncated_seen.add(key)
        count = len(_truncated_seen)
    logger.warning('%s: %s; it is used as decoded (the missing part is grey) '
                   '(%d truncated image(s) so far)', path, reason, count)
    return True
