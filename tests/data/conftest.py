"""Fixtures for the data tests: a small built-in dataset (the captured ppdet log,
``ppdet_log``, is in the root conftest)."""
import pytest


@pytest.fixture(scope='session')
def builtin_dir(tmp_path_factory):
    from ppdet.data.synthetic import generate_dataset
    out = str(tmp_path_factory.mktemp('builtin'))
    generate_dataset(out, num_train=16, num_val=8, image_size=128, seed=3)
    return out
