"""Data-parallel training through paddle.distributed.launch with 2 CPU processes (gloo)."""
import glob
import os
import subprocess
import sys

import pytest

from ppdet.utils.checkpoint import read_meta

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
def test_two_process_cpu_training(tiny_config, tmp_path):
    log_dir = tmp_path / 'launch_logs'
    env = dict(os.environ)
    proc = subprocess.run(
        [sys.executable, '-m', 'paddle.distributed.launch', '--nproc_per_node', '2',
         '--log_dir', str(log_dir), 'tools/train.py', '-c', tiny_config,
         '-o', 'max_iters_per_epoch=2', 'TrainReader.batch_size=2'],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    logs = ''.join(open(p).read() for p in sorted(glob.glob(str(log_dir / 'workerlog.*'))))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:] + logs[-4000:]
    # both ranks trained (each logs its own iterations); only rank 0 wrote checkpoints
    assert len(glob.glob(str(log_dir / 'workerlog.*'))) == 2
    assert logs.count('epoch 1/1 iter 2/2') == 2, logs[-3000:]
    final = os.path.join(str(tmp_path), 'output', 'tiny', 'model_final.pdparams')
    assert read_meta(final)['architecture'] == 'YOLOv3'
