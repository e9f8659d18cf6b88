"""The on-device ARM runner stops with instructions anywhere else."""
import os
import platform
import subprocess
import sys

import pytest

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'deploy', 'lite', 'arm_benchmark.py')


@pytest.mark.skipif(platform.machine().lower() in ('aarch64', 'arm64'),
                    reason='on ARM the runner really runs')
def test_arm_runner_needs_an_arm_device(tmp_path):
    nb = tmp_path / 'model_arm.nb'
    nb.write_bytes(b'x')
    proc = subprocess.run([sys.executable, SCRIPT, '--model_file', str(nb)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert proc.stderr.startswith('error: this runner needs an ARM device (aarch64) with '
                                  'paddlelite installed; this machine is %s. copy the .nb and '
                                  'this script to the phone/board: '
                                  % platform.machine().lower())
    assert 'deploy/lite/README.md' in proc.stderr and 'Traceback' not in proc.stderr
