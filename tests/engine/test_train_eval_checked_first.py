"""``tools/train.py --eval`` builds the eval dataset, reader and metric before the first
epoch: a bad Eval setting fails before training is spent (verification 2026-12-05: it failed
after the first ``eval_interval`` epochs, with nothing saved)."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from ppdet.core.workspace import load_config
from ppdet.engine import Trainer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ['epoch=1', 'max_iters_per_epoch=1', 'TrainReader.batch_size=2']


def _broken_eval_json(tiny_dataset, tmp_path):
    """A copy of the tiny set whose val json has an annotation of no image."""
    copy = str(tmp_path / 'data')
    shutil.copytree(tiny_dataset, copy)
    path = os.path.join(copy, 'coco', 'annotations', 'instances_val.json')
    with open(path) as f:
        data = json.load(f)
    data['annotations'][0]['image_id'] = 99999
    with open(path, 'w') as f:
        json.dump(data, f)
    return copy, path


def test_library_bad_eval_json_fails_before_the_first_step(tiny_config, tiny_dataset, tmp_path,
                                                           monkeypatch):
    copy, path = _broken_eval_json(tiny_dataset, tmp_path)
    cfg = load_config(tiny_config, overrides=TINY + ['EvalDataset.dataset_dir=%s' % os.path.join(
        copy, 'coco')])
    trainer = Trainer(cfg, mode='train')
    steps = []
    monkeypatch.setattr(trainer, 'train_step', lambda batch: steps.append(1) or {})
    with pytest.raises(ValueError, match='annotation.*name an image_id that no image has'):
        trainer.train(validate=True)
    assert steps == []                        # no training step was spent
    assert not os.path.exists(trainer.save_dir) or not os.listdir(trainer.save_dir)


def test_script_bad_eval_setting_fails_before_training(tiny_config, tmp_path):
    save_dir = str(tmp_path / 'out')
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'tools/train.py'), '-c', tiny_config, '--eval', '-o']
        + TINY + ['save_dir=%s' % save_dir, 'EvalDataset.anno_path=annotations/nope.json'],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2 and 'Traceback' not in out, out[-3000:]
    assert proc.stderr.rstrip().splitlines()[-1].startswith('error: '), out[-3000:]
    assert 'nope.json' in proc.stderr.rstrip().splitlines()[-1], out[-3000:]
    assert 'iter 1/1' not in out, out[-3000:]  # no step trained before it
    assert not os.path.exists(save_dir) or not os.listdir(save_dir)


def test_every_evaluation_reuses_the_checked_dataset(tiny_config, monkeypatch):
    cfg = load_config(tiny_config, overrides=TINY + ['epoch=2', 'snapshot_epoch=1'])
    trainer = Trainer(cfg, mode='train')
    seen = []
    real = trainer.evaluate

    def evaluate(dataset=None, **kw):
        seen.append(dataset)
        return real(dataset=dataset, **kw)
    monkeypatch.setattr(trainer, 'evaluate', evaluate)
    trainer.train(validate=True)
    assert len(seen) == 2 and seen[0] is not None and seen[0] is seen[1]
