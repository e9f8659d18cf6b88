"""ppdet: object detectors on PaddlePaddle and the compression tools that shrink them."""
__version__ = '0.1.0'
