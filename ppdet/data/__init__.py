"""Datasets, transforms and readers.

``build_dataset(cfg, 'TrainDataset')`` builds the dataset named in that config section;
``create_reader(cfg, 'train')`` wraps it in a DataLoader with the reader's transforms.
"""
import copy

from ppdet.core.workspace import ConfigError, create

from . import source, transform  # noqa: F401  (registers datasets and transforms)
from .reader import BatchCompose, Compose, create_reader  # noqa: F401
from .source import COCODataSet, DetDataset, ImageDecodeError, ImageFolder, VOCDataSet  # noqa: F401

__all__ = ['build_dataset', 'create_reader', 'Compose', 'BatchCompose', 'COCODataSet',
           'VOCDataSet', 'ImageFolder', 'DetDataset', 'ImageDecodeError']


def build_dataset(cfg, section='TrainDataset', **overrides):
    """Build the dataset described by ``cfg[section]`` (its ``name`` picks the class)."""
    spec = copy.deepcopy(dict(cfg.get(section) or {}))
    if not spec:
        raise ConfigError('the config has no %s section (add one, e.g. via _BASE_: '
                          '[datasets/builtin_coco.yml])' % section)
    name = spec.pop('name', None)
    if name is None:
        raise ConfigError('%s needs a "name" (COCODataSet, VOCDataSet or ImageFolder)' % section)
    spec.update(overrides)
    return create(name, cfg, **spec)
