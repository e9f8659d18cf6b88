"""Test configs written to disk (a uniquely named module: every test folder has a
conftest.py, so "from conftest import" would be ambiguous)."""
import os

import yaml


def dump_config(directory, name, cfg, dataset_dir, **extra):
    """Write ``cfg`` (+ ``extra``) as ``directory/name`` with every dataset section pointing
    at the COCO layout of the generated ``dataset_dir``; returns the path."""
    for section in ('TrainDataset', 'EvalDataset', 'TestDataset'):
        cfg[section] = {'dataset_dir': os.path.join(dataset_dir, 'coco')}
    cfg.update(extra)
    path = os.path.join(str(directory), name)
    with open(path, 'w') as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
    return path


def fixed_size_readers(size, norm, num_max_boxes, interp, train_batch=4, eval_batch=2):
    """Train / eval / test reader sections at one fixed ``size``: no augmentation, the
    ``norm`` NormalizeImage op, ``num_max_boxes`` padded boxes, ``interp`` for the resize."""
    resize = {'Resize': {'target_size': [size, size], 'keep_ratio': False, 'interp': interp}}
    test = [{'Decode': {}}, resize, norm, {'Permute': {}}]
    return {'TrainReader': {'sample_transforms': [{'Decode': {}}],
                            'batch_transforms': [
                                {'BatchRandomResize': {'target_size': [size],
                                                       'random_size': False,
                                                       'random_interp': False,
                                                       'keep_ratio': False}},
                                {'PadBox': {'num_max_boxes': num_max_boxes}}, norm,
                                {'Permute': {}}],
                            'batch_size': train_batch, 'shuffle': True, 'drop_last': True},
            'EvalReader': {'sample_transforms': test, 'batch_size': eval_batch},
            'TestReader': {'inputs_def': {'image_shape': [3, size, size]},
                           'sample_transforms': test, 'batch_size': 1}}
