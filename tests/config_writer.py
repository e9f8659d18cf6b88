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
