"""Datasets, transforms and readers.

``build_dataset(cfg, 'TrainDataset')`` builds the dataset named in that config section;
``create_reader(cfg, 'train')`` wraps it in a DataLoader with the reader's transforms.
"""
from . import source, transform  # noqa: F401  (registers datasets and transforms)
from .dataset_builder import build_dataset, check_num_classes  # noqa: F401
from .reader import BatchCompose, Compose, create_reader  # noqa: F401
from .source import COCODataSet, DetDataset, ImageDecodeError, ImageFolder, VOCDataSet  # noqa: F401

__all__ = ['build_dataset', 'check_num_classes', 'create_reader', 'Compose', 'BatchCompose', 'COCODataSet',
           'VOCDataSet', 'ImageFolder', 'DetDataset', 'ImageDecodeError']
