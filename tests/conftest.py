import logging
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault('OMP_NUM_THREADS', '1')

from config_writer import dump_config  # noqa: E402

BUILTIN_CONFIG = os.path.join(ROOT, 'configs', 'builtin', 'yolov3_mobilenet_v1_builtin.yml')
TINY_SIZE = 128


@pytest.fixture(autouse=True)
def _no_failed_trace_records():
    """What a trace that raised left in dy2static must not reach a later test's jit.save
    (ppdet.utils.static_graph.forget_failed_traces)."""
    from ppdet.utils.static_graph import forget_failed_traces
    forget_failed_traces()
    yield


@pytest.fixture(scope='session')
def tiny_dataset(tmp_path_factory):
    """The built-in dataset generator at a tiny size (COCO + VOC layouts)."""
    from ppdet.data.synthetic import generate_dataset
    out = str(tmp_path_factory.mktemp('builtin_tiny'))
    generate_dataset(out, num_train=16, num_val=6, image_size=TINY_SIZE, seed=0)
    return out


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


@pytest.fixture
def tiny_config(tmp_path, tiny_dataset):
    return write_tiny_config(tmp_path, tiny_dataset)


class _ListHandler(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())

    @property
    def text(self):
        return '\n'.join(self.messages)


@pytest.fixture
def ppdet_log():
    """Messages logged under the 'ppdet' logger (which does not propagate to root)."""
    from ppdet.utils.logger import setup_logger
    setup_logger('ppdet')
    handler = _ListHandler()
    logger = logging.getLogger('ppdet')
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def _start_rank(path, slow_files):
    """0: the whole-job runs (tests/pipeline, minutes each), 1: other files with slow tests,
    2: the rest."""
    if os.path.relpath(path, os.path.join(ROOT, 'tests')).startswith('pipeline' + os.sep):
        return 0
    return 1 if path in slow_files else 2


def pytest_collection_modifyitems(config, items):
    """Longest files first.  `make test` hands whole files to the 2 workers in collection order
    (``--dist loadfile --no-loadscope-reorder``); xdist's own order (most tests first) started
    the main job's 7-minute file near the end."""
    slow_files = {str(item.fspath) for item in items if item.get_closest_marker('slow')}
    items.sort(key=lambda item: _start_rank(str(item.fspath), slow_files))
