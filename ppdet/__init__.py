"""ppdet: object detectors on PaddlePaddle and the compression tools that shrink them."""
# numpy must be loaded before paddle: with paddle 2.6.2 imported first in a process, every
# later PNG decode (OpenCV, PIL: the sample photos, image folders) crashes in zlib's
# inflateReset2 (segfault) or fails ("codec configuration error"); with numpy first it works.
# Every ppdet import passes here, so ppdet's entry points are safe whatever they import next.
import numpy  # noqa: F401,E402

__version__ = '0.1.0'
