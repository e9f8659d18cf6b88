import pytest

from tiny_yolo import tiny_batch, tiny_model


@pytest.fixture
def batch():
    return tiny_batch()


@pytest.fixture
def make_tiny():
    """Factory: make_tiny(**cfg_overrides) -> a fresh tiny YOLOv3."""
    return tiny_model


@pytest.fixture
def make_batch():
    return tiny_batch
