"""benchmarks/distill_quality.py: run labels carry loss and weight; the table and the
written findings survive a rerun (the trainings themselves are the pipeline's, tested there)."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'benchmarks'))

import distill_quality as dq  # noqa: E402

WEIGHTS = {'l2': 2.0, 'fine_grained': 100.0}


def test_kinds_and_labels():
    assert dq.parse_kind('twin') == (None, None)
    assert dq.parse_kind('l2') == ('l2', None) and dq.parse_kind('l2@0.5') == ('l2', 0.5)
    assert dq.kind_label('twin', WEIGHTS) == 'twin'
    assert dq.kind_label('l2', WEIGHTS) == 'l2w2'          # the pipeline's weight, named
    assert dq.kind_label('l2@10', WEIGHTS) == 'l2w10'
    assert dq.kind_label('fine_grained', WEIGHTS) == 'fine_grainedw100'
    for bad, says in (('l3', 'unknown kind'), ('l2@x', 'must be a number'),
                      ('twin@2', 'unknown kind')):
        with pytest.raises(ValueError, match=says):
            dq.parse_kind(bad)


def _result(student, label, seed, ap):
    return {dq.run_name(student, label, seed): {'AP': ap, 'student': student}}


def test_summary_means_deltas_and_markdown(tmp_path):
    results = {}
    for seed, (twin, l2) in enumerate(((0.30, 0.33), (0.32, 0.31))):
        results.update(_result('r578', 'twin', seed, twin))
        results.update(_result('r578', 'l2w2', seed, l2))
    results['r578_l2w2_seed0_weights'] = 'a/path'       # not a result row
    summary = dq.summarize(results, ['r578'], [0, 1])
    assert summary['r578']['per_seed'] == {0: {'twin': 30.0, 'l2w2': 33.0},
                                           1: {'twin': 32.0, 'l2w2': 31.0}}
    assert summary['r578']['mean'] == {'twin': 31.0, 'l2w2': 32.0, 'l2w2_minus_twin': 1.0}
    path = str(tmp_path / 'dq.md')
    res = {'cpu': 'x', 'cpu_flags': ['avx2'], 'teacher_config': 't.yml', 'teacher_weights': 'w',
           'teacher_AP': 60.0, 'finetune_epochs': 3, 'distill_weights': WEIGHTS,
           'students': summary, 'command': 'python benchmarks/distill_quality.py'}
    dq.write_md(path, res)
    with open(path, 'a') as f:
        f.write('\n## What it shows\n\nfindings written by hand\n')
    dq.write_md(path, res)                               # a rerun keeps them
    text = open(path).read()
    assert '| student | seed | twin | l2w2 |' in text
    assert '| r578 | mean | 31.0 | 32.0 (+1.00) |' in text
    assert '`l2w2` = l2 at weight 2' in text
    assert text.count('findings written by hand') == 1
