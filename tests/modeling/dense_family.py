"""Tiny configs of the dense families (RetinaNet, FCOS) for tests: their built-in configs,
shrunk to run in seconds on 2 cores (a uniquely named module; see config_writer)."""
import os

import numpy as np
import paddle

from config_writer import dump_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILTIN = os.path.join(ROOT, 'configs', 'builtin')
SIZE = 96
MEAN_STD = {'mean': [0.485, 0.456, 0.406], 'std': [0.229, 0.224, 0.225], 'is_scale': True}


def _test_transforms(size):
    return [{'Decode': {}},
            {'Resize': {'target_size': [size, size], 'keep_ratio': False, 'interp': 2}},
            {'NormalizeImage': dict(MEAN_STD)}, {'Permute': {}}]


def write_dense_config(directory, dataset_dir, config, name='dense.yml', size=SIZE, **extra):
    """``configs/builtin/<config>`` on the tiny dataset at ``size``, batch 4, Adam, no decay;
    ``extra`` sections are merged over it (a dict value replaces the section's keys)."""
    cfg = {
        '_BASE_': [os.path.join(BUILTIN, config)],
        'epoch': 1, 'max_iters_per_epoch': 4, 'log_iter': 50, 'snapshot_epoch': 1,
        'worker_num': 0, 'seed': 1, 'save_dir': os.path.join(str(directory), 'output'),
        'LearningRate': {'base_lr': 0.002, 'schedulers': []},
        'TrainReader': {
            'sample_transforms': [{'Decode': {}}, {'RandomFlip': {}}],
            'batch_transforms': [
                {'BatchRandomResize': {'target_size': [size], 'random_size': False,
                                       'random_interp': False, 'keep_ratio': False}},
                {'PadBox': {'num_max_boxes': 30}},
                {'NormalizeImage': dict(MEAN_STD)}, {'Permute': {}}],
            'batch_size': 4, 'shuffle': True, 'drop_last': True},
        'EvalReader': {'sample_transforms': _test_transforms(size), 'batch_size': 2},
        'TestReader': {'inputs_def': {'image_shape': [3, size, size]},
                       'sample_transforms': _test_transforms(size), 'batch_size': 1},
    }
    return dump_config(directory, name, cfg, dataset_dir, **extra)


def feeds(seed=0, n=2, size=SIZE):
    """Inputs of an exported model: images and a (120 x 100 original) scale factor."""
    return {'image': np.random.RandomState(seed).randn(n, 3, size, size).astype('float32'),
            'im_shape': np.array([[size, size]] * n, 'float32'),
            'scale_factor': np.array([[size / 120., size / 100.]] * n, 'float32')}


def gt_batch():
    """Padded ground truth of two images (the second: one box and one padding row)."""
    return {'gt_bbox': paddle.to_tensor([[[8, 10, 40, 44], [50, 50, 90, 80]],
                                         [[20, 30, 70, 60], [0, 0, 0, 0]]], 'float32'),
            'gt_class': paddle.to_tensor([[1, 3], [0, 0]], 'int32')}
