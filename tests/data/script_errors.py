"""A data test's script run that must fail as users see it: exit 2, exactly one ``error:``
line, the last, and no traceback."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def one_error_line(script, *args):
    """Run ``script`` (relative to the repository) with ``args``; -> its ``error:`` line."""
    proc = subprocess.run([sys.executable, script] + [str(a) for a in args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2 and 'Traceback' not in out, out[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith('error: ')]
    assert len(errors) == 1 and proc.stderr.rstrip().splitlines()[-1] == errors[0], out[-3000:]
    return errors[0]
