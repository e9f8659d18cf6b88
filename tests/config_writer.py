"""Test configs written to disk (a uniquely named module: every test folder has a
conftest.py, so "from conftest import" would be ambiguous)."""
import os

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILTIN_CONFIG = os.path.join(ROOT, 'configs', 'builtin', 'yolov3_mobilenet_v1_builtin.yml')
TINY_SIZE = 128


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


def _normalize_transforms(size):
    return [{'Decode': {}},
            {'Resize': {'target_size': [size, size], 'keep_ratio': False, 'interp': 2}},
            {'NormalizeImage': {'mean': [0.485, 0.456, 0.406], 'std': [0.229, 0.224, 0.225],
                                'is_scale': True}},
            {'Permute': {}}]


def write_tiny_config(directory, dataset_dir, name='tiny.yml', base=BUILTIN_CONFIG, **extra):
    """A config inheriting the built-in one, shrunk to run in seconds on 2 cores."""
    size = TINY_SIZE
    cfg = {
        '_BASE_': [base],
        'epoch': 1, 'log_iter': 1, 'snapshot_epoch': 1, 'worker_num': 0,
        'save_dir': os.path.join(str(directory), 'output'),
        'YOLOv3FPN': {'base_channel': 32},
        'LearningRate': {'base_lr': 0.001, 'schedulers': []},
        'TrainReader': {
            'sample_transforms': [{'Decode': {}}, {'RandomFlip': {}}],
            'batch_transforms': [
                {'BatchRandomResize': {'target_size': [96, 128], 'random_size': True,
                                       'random_interp': False, 'keep_ratio': False}},
                {'NormalizeBox': {}}, {'PadBox': {'num_max_boxes': 30}}, {'BboxXYXY2XYWH': {}},
                {'NormalizeImage': {'mean': [0.485, 0.456, 0.406],
                                    'std': [0.229, 0.224, 0.225], 'is_scale': True}},
                {'Permute': {}}],
            'batch_size': 4, 'shuffle': True, 'drop_last': True},
        'EvalReader': {'sample_transforms': _normalize_transforms(size), 'batch_size': 2},
        'TestReader': {'inputs_def': {'image_shape': [3, size, size]},
                       'sample_transforms': _normalize_transforms(size), 'batch_size': 1},
    }
    return dump_config(directory, name, cfg, dataset_dir, **extra)
