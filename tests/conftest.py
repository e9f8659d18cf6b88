import logging
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault('OMP_NUM_THREADS', '1')

# re-exported: test files load this conftest by path for write_tiny_config
from config_writer import BUILTIN_CONFIG, TINY_SIZE, write_tiny_config  # noqa: E402,F401


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
