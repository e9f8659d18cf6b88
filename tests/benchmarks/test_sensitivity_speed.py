"""benchmarks/sensitivity_speed.py on a tiny model."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_sensitivity_speed_writes_ratio_ranking_and_machine(tiny_config, tmp_path):
    """The benchmark runs PaddleSlim's FilterPruner.sensitive and the fast mode on one model
    (a tiny YOLOv3 trained a few epochs and scored on its training images with every box
    kept, so its recall is not zero) and writes the ratio, the ranking agreement and the
    machine."""
    from ppdet.core import load_config
    from ppdet.engine import Trainer
    opts = ['YOLOBox.conf_thresh=0.0', 'MultiClassNMS.score_threshold=0.0',
            'EvalDataset.image_dir=train',
            'EvalDataset.anno_path=annotations/instances_train.json']
    cfg = load_config(tiny_config, overrides=['epoch=6', 'LearningRate.base_lr=0.005'] + opts)
    trainer = Trainer(cfg, mode='train')
    trainer.save_dir = str(tmp_path / 'w')
    trainer.train(validate=False)
    weights = str(tmp_path / 'w' / 'model_final')
    out = str(tmp_path / 'res')
    cmd = [sys.executable, os.path.join(ROOT, 'benchmarks', 'sensitivity_speed.py'),
           '-c', tiny_config, '--ratios', '0.3,0.6', '--eval_images', '2', '--out_dir', out,
           '--pruned_params', 'yolo_block.0.0.0.conv.weights,yolo_block.1.2.conv.weights,'
           'yolo_block.2.tip.conv.weights',
           '--metric', 'AR100',
           '-o', 'weights=%s' % weights] + opts
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    summary = json.load(open(os.path.join(out, 'sensitivity_speed.json')))
    # speedup comes from the unrounded times
    assert summary['speedup'] == pytest.approx(summary['paddleslim_s'] / summary['fast_s'],
                                               rel=0.05)
    assert summary['ratios_fast'] == [0.3, 0.6] and summary['cpu']
    assert -1 <= summary['fast_spearman'] <= 1
    fast = json.load(open(os.path.join(out, 'sensitivity_fast.json')))
    slim = json.load(open(os.path.join(out, 'sensitivity_paddleslim.json')))
    assert set(fast['sensitivities']) == set(slim['sensitivities']) and len(fast[
        'sensitivities']) == 3
    # PaddleSlim's loop probes all of 0.1 ... 0.9 for each parameter, under our names
    assert all(len(t) == 9 for t in slim['sensitivities'].values())
    assert all(n.startswith('yolo_block.') for n in slim['sensitivities'])
    md = open(os.path.join(out, 'sensitivity_speed.md')).read()
    assert md.startswith('Measured on ') and 'FilterPruner.sensitive' in md
