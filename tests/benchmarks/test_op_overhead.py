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


def test_out_holding_a_run_of_other_settings_is_refused_before_any_chain(tmp_path):
    """The default --out is the committed table: a quick --rounds 10 run replaced it, exit 0;
    --overwrite replaces it, and the .json records the run's settings."""
    out = str(tmp_path / 'res')
    with open(out + '.json', 'w') as f:
        json.dump({'_settings': {'extra': 50, 'rounds': 200}, 'per_op_us': 30.0}, f)
    before = open(out + '.json').read()
    argv = ['--work_dir', str(tmp_path / 'w'), '--out', out, '--extra', '1', '--rounds', '2']
    with pytest.raises(ValueError, match=r'^--out: .*res.json holds the results of another run '
                                         r'\(extra=50, rounds=200; this run: extra=1, '
                                         r'rounds=2\): they would be overwritten; give another '
                                         r'--out \(or --overwrite to replace them\)$'):
        op_overhead.main(argv)
    assert open(out + '.json').read() == before
    assert not os.path.exists(str(tmp_path / 'w'))            # no chain built
    op_overhead.main(argv + ['--overwrite'])
    assert json.load(open(out + '.json'))['_settings'] == {'extra': 1, 'rounds': 2}
    op_overhead.main(argv)                                      # the same run: rewritten


def test_a_table_from_before_the_record_is_compared_on_what_it_holds(tmp_path):
    """The committed op_overhead.json has no record: its extra_layers and rounds are
    compared; the default flags pass."""
    from ppdet.utils.settings_record import check_results_overwrite
    path = str(tmp_path / 'old.json')
    with open(path, 'w') as f:
        json.dump({'extra_layers': 50, 'rounds': 200, 'per_op_us': 30.0}, f)
    with pytest.raises(ValueError, match=r'\(rounds=200; this run: rounds=20\)'):
        op_overhead.main(['--work_dir', str(tmp_path / 'w'), '--out', path[:-5],
                          '--rounds', '20'])
    defaults = op_overhead.run_settings(op_overhead.build_parser().parse_args([]))
    assert defaults == {'extra': 50, 'rounds': 200}
    for p in (path, os.path.join(ROOT, 'benchmarks', 'results', 'op_overhead.json')):
        check_results_overwrite(p, defaults, flag='--out',
                                recorded=op_overhead.recorded_settings)

