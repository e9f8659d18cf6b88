"""Fixtures for the data tests: captured ppdet log messages, a small built-in dataset."""
import logging

import pytest


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


@pytest.fixture(scope='session')
def builtin_dir(tmp_path_factory):
    from ppdet.data.synthetic import generate_dataset
    out = str(tmp_path_factory.mktemp('builtin'))
    generate_dataset(out, num_train=16, num_val=8, image_size=128, seed=3)
    return out
