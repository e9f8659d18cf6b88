"""benchmarks/order_effect.py run as a script: a work dir without a build and a group without
a size give the project's one-line ``error: ...`` and exit 2 (they printed the bare message
and exited 1)."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize('argv, message', [
    (['--work_dir', 'NONE'], 'error: --work_dir: NONE/manifest.json not found: build the rows '
                             'first (python benchmarks/full_size_latency.py --stage build'),
    (['--group', 'yolov3_mobilenet_v1'], "error: --group: 'yolov3_mobilenet_v1' needs an "
                                         "input size, e.g. yolov3_mobilenet_v1:608"),
])
def test_errors_are_one_line_with_exit_2(argv, message, tmp_path):
    none = str(tmp_path / 'none')
    argv = [none if a == 'NONE' else a for a in argv]
    p = subprocess.run([sys.executable, 'benchmarks/order_effect.py', '--out_dir',
                        str(tmp_path / 'out')] + argv, cwd=ROOT, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True,
                       env=dict(os.environ, PYTHONPATH=ROOT))
    assert p.returncode == 2
    assert p.stderr.strip().splitlines()[-1].startswith(message.replace('NONE', none))
    assert 'Traceback' not in p.stderr
