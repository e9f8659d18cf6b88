from .dataset import DatasetError, DetDataset, ImageDecodeError, SkipCounter  # noqa: F401
from .coco import COCODataSet  # noqa: F401
from .voc import VOCDataSet  # noqa: F401
from .image_folder import ImageFolder  # noqa: F401
from .widerface import WIDERFaceDataSet  # noqa: F401

__all__ = ['DetDataset', 'ImageDecodeError', 'SkipCounter', 'COCODataSet', 'VOCDataSet',
           'ImageFolder', 'WIDERFaceDataSet']
