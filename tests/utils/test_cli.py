"""ppdet/utils/cli.py: check_choices refuses a comma-list flag's unknown item, naming the close
ones; benchmarks/ptq_quality.py uses it before its fp32 eval and calibration."""
import os
import subprocess
import sys

import pytest

from ppdet.utils.cli import check_choices

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_check_choices_names_the_close_ones():
    check_choices('--algos', ['abs_max', 'KL'], ['abs_max', 'avg', 'hist', 'KL'])
    with pytest.raises(ValueError, match=r"--algos: unknown 'histt'; did you mean 'hist'\? "
                                         r"\(choose from abs_max, avg, hist, KL\)"):
        check_choices('--algos', ['abs_max', 'histt'], ['abs_max', 'avg', 'hist', 'KL'])
    with pytest.raises(ValueError, match=r"unknown 'zzz' \(choose from a, b\)"):
        check_choices('--x', ['zzz'], {'a': 1, 'b': 2})


@pytest.mark.parametrize('flag, value, match', [
    ('--algos', 'abs_max,histt', "--algos: unknown 'histt'; did you mean 'hist'"),
    ('--variants', 'defualt', "--variants: unknown 'defualt'; did you mean 'default'"),
])
def test_ptq_quality_refuses_a_typo_before_any_work(flag, value, match, tmp_path):
    # no dataset, no model there: the typo is what stops it
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'benchmarks', 'ptq_quality.py'),
                           '--dataset_dir', str(tmp_path / 'none'), '--model_dir',
                           str(tmp_path / 'none'), '--results', str(tmp_path / 'r'),
                           flag, value], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and match in proc.stderr, proc.stderr
    assert not os.path.exists(str(tmp_path / 'r.json'))
