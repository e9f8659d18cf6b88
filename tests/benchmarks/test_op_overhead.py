"""benchmarks/op_overhead.py: the per-op cost of a conv chain, with the oneDNN primitives'
share from verbose, written with the CPU's flags."""
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from benchmarks import op_overhead  # noqa: E402


def test_short_chain_measures_op_and_primitive_time(tmp_path):
    out = str(tmp_path / 'res')
    op_overhead.main(['--work_dir', str(tmp_path / 'w'), '--out', out, '--extra', '4',
                      '--rounds', '10'])
    res = json.load(open(out + '.json'))
    assert set(res['pass_us']) == {'1', '5'}
    assert res['pass_us']['5'] > res['pass_us']['1'] > 0
    assert res['per_op_us'] > 0
    # 5 conv layers, their ReLUs fused: at least one primitive per layer in one pass
    assert res['primitives'] >= 5 and res['primitive_us'] > 0
    md = open(out + '.md').read()
    assert 'CPU flags: `' in md and 'us per layer' in md
    # the command that made it, in both files
    assert res['command'] == 'python benchmarks/op_overhead.py --work_dir %s --out %s ' \
        '--extra 4 --rounds 10' % (tmp_path / 'w', out)
    assert 'Command: `%s`' % res['command'] in md


@pytest.mark.parametrize('argv, match', [
    (['--extra', '0'], '--extra must be >= 1, got 0'),      # was a ZeroDivisionError
    (['--extra=-2'], '--extra must be >= 1, got -2'),       # was a Paddle error, chain_-1 left
    (['--rounds', '0'], '--rounds must be >= 1, got 0'),    # was rc 0 and "nan us per layer"
])
def test_bad_counts_stop_before_any_work(argv, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        op_overhead.main(['--work_dir', str(tmp_path / 'w'), '--out', str(tmp_path / 'r')] + argv)
    assert os.listdir(str(tmp_path)) == []


def test_output_paths_that_are_files_are_refused_first(tmp_path):
    f = tmp_path / 'f'
    f.write_text('')
    with pytest.raises(ValueError, match='--work_dir: .* is a file'):
        op_overhead.main(['--work_dir', str(f), '--out', str(tmp_path / 'r')])
    with pytest.raises(ValueError, match='--out: .* is a file'):
        op_overhead.main(['--work_dir', str(tmp_path / 'w'), '--out', str(f / 'r')])
    assert sorted(os.listdir(str(tmp_path))) == ['f']


def test_every_flag_has_help(capsys):
    with pytest.raises(SystemExit):
        op_overhead.main(['-h'])
    out = capsys.readouterr().out
    assert 'where the two chain programs are saved' in out and 'interleaved timed passes' in out
