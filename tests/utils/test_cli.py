"""ppdet/utils/cli.py: check_choices refuses a comma-list flag's unknown item, naming the close
ones; the benchmark scripts use it before any work."""
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


@pytest.mark.parametrize('script, argv, match', [
    ('ptq_quality.py', ['--algos', 'abs_max,histt'], "--algos: unknown 'histt'; did you mean 'hist'"),
    ('ptq_quality.py', ['--variants', 'defualt'], "--variants: unknown 'defualt'; did you mean"),
    ('int8_weight_bits.py', ['--algos', 'abs_max,hst'], "--algos: unknown 'hst'; did you mean"),
    ('distill_quality.py', ['--students', 'baseline,r587'], "--students: unknown 'r587'"),
    ('architecture_table.py', ['--strategies', 'r578,sensty'], "--strategies: unknown 'sensty'"),
])
def test_benchmark_scripts_refuse_a_typo_before_any_work(script, argv, match, tmp_path):
    """Each of these used to find the typo only after minutes of work (an fp32 eval, a model
    built) or fail on a KeyError; each writes its results under --out_dir / --results /
    --work_dir, none of which may appear."""
    out = str(tmp_path / 'out')
    where = {'ptq_quality.py': ['--dataset_dir', out, '--model_dir', out, '--results', out,
                                '--work_dir', out],
             'int8_weight_bits.py': ['--work_dir', out, '--results', out],
             'distill_quality.py': ['--work_dir', out],
             'architecture_table.py': ['--out_dir', out]}[script]
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'benchmarks', script)] + where +
                          argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and match in proc.stderr, proc.stderr
    assert not os.path.exists(out) and not os.path.exists(out + '.json')
