"""benchmarks/full_size_latency.py's results and grid, checked before any build or timing:
an --out_dir holding another run's results is refused (a one-row run replaced the committed
full table, exit 0), the default --out_dir is not the committed one, rows asked for but not
built are named (or refused when a whole group is missing), a size that is not a multiple of
32 and a YOLOv3 preset given with another family are refused up front, --help shows no
"(default: None)"."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from benchmarks import full_size_latency  # noqa: E402
from ppdet.utils.fileio import write_json  # noqa: E402

ROW = {'config': 'yolov3_mobilenet_v1', 'input_size': 320, 'strategy': 'baseline'}


def _work(tmp_path, rows):
    work = tmp_path / 'work'
    write_json(str(work / 'manifest.json'), {'rows': rows})
    return str(work)


def _timing(grid, runtimes, threads):
    """A results file as a timing before the settings record wrote it (the committed ones)."""
    return {'settings': {'runtimes': runtimes, 'threads': threads, 'rounds': 20},
            'groups': [{'config': c, 'input_size': s, 'threads': t, 'cells': {}}
                       for c, s in grid for t in threads]}


def test_default_out_dir_is_not_the_committed_results():
    assert full_size_latency.build_parser().parse_args([]).out_dir == 'output/full_size_latency'


def test_out_dir_with_another_runs_table_is_refused_before_timing(tmp_path):
    out = tmp_path / 'out'
    full = _timing([('yolov3_mobilenet_v1', 320), ('yolov3_mobilenet_v1', 608)],
                   ['onnx', 'paddle'], [1, 2])
    write_json(str(out / 'full_size_latency.json'), full)
    before = (out / 'full_size_latency.json').read_text()
    argv = ['--grid', 'yolov3_mobilenet_v1:320', '--strategies', 'baseline', '--stage', 'time',
            '--work_dir', _work(tmp_path, {'yolov3_mobilenet_v1_320_baseline': ROW}),
            '--runtimes', 'paddle', '--rounds', '1', '--warmup', '0', '--out_dir', str(out)]
    with pytest.raises(ValueError, match=r"--out_dir: .*full_size_latency.json holds the "
                                         r"results of another run \(grid=.*608.*runtimes=.*"
                                         r"this run: grid=\['yolov3_mobilenet_v1:320'\].*give "
                                         r"another --out_dir \(or --overwrite"):
        full_size_latency.main(argv)
    assert (out / 'full_size_latency.json').read_text() == before


def test_same_run_again_or_overwrite_passes_and_other_strategies_are_refused(tmp_path):
    path = str(tmp_path / 'r.json')
    grid = (('yolov3_mobilenet_v1', 320),)
    settings = full_size_latency.run_settings(grid, {'yolov3_mobilenet_v1': ['baseline']},
                                              ['paddle'], [1], 'time')
    write_json(path, {'_settings': settings, 'groups': []})
    full_size_latency.check_results_file(path, settings)           # the same run: rewritten
    other = full_size_latency.run_settings(grid, {'yolov3_mobilenet_v1': ['baseline', 'r578']},
                                           ['paddle'], [1], 'time')
    with pytest.raises(ValueError, match="strategies=.*this run: strategies=.*'r578'"):
        full_size_latency.check_results_file(path, other)
    full_size_latency.check_results_file(path, other, overwrite=True)
    full_size_latency.check_results_file(str(tmp_path / 'none.json'), other)   # nothing there
    # a file written before the record: its grid, runtimes and threads as timed
    write_json(path, _timing(grid, ['paddle'], [1]))
    full_size_latency.check_results_file(path, other)
    with pytest.raises(ValueError, match=r'threads=\[1\]; this run: threads=\[1, 2\]'):
        full_size_latency.check_results_file(path, full_size_latency.run_settings(
            grid, {'yolov3_mobilenet_v1': ['baseline']}, ['paddle'], [1, 2], 'time'))


def test_a_group_with_nothing_built_is_refused(tmp_path):
    argv = ['--quick', '--stage', 'time', '--strategies', 'baseline', '--runtimes', 'paddle',
            '--work_dir', _work(tmp_path, {'yolov3_mobilenet_v1_320_baseline': ROW}),
            '--out_dir', str(tmp_path / 'out')]
    with pytest.raises(ValueError, match=r'nothing of yolov3_mobilenet_v1:608 built in '
                                         r'--work_dir .*: run --stage build'):
        full_size_latency.main(argv)
    assert not (tmp_path / 'out').exists()


def test_rows_asked_for_but_not_built_are_named(tmp_path, capsys):
    rows = {'yolov3_mobilenet_v1_320_baseline': ROW,
            'yolov3_mobilenet_v1_320_baseline_int8': ROW,
            'yolov3_mobilenet_v1_320_r578': dict(ROW, strategy='r578'),
            'yolov3_mobilenet_v1_608_baseline': dict(ROW, input_size=608)}
    grid = (('yolov3_mobilenet_v1', 320), ('yolov3_mobilenet_v1', 608))
    got, missing = full_size_latency.built_rows(
        {'rows': rows}, grid, {'yolov3_mobilenet_v1': ['baseline', 'r578', 'r578@32']}, 'W')
    assert sorted(got) == sorted(rows)
    assert missing == ['yolov3_mobilenet_v1_320_r578@32', 'yolov3_mobilenet_v1_608_r578',
                       'yolov3_mobilenet_v1_608_r578@32']
    err = capsys.readouterr().err
    assert err.startswith('warning: not built in --work_dir W, left out of the table: '
                          'yolov3_mobilenet_v1_320_r578@32, yolov3_mobilenet_v1_608_r578, ')
    assert 'run --stage build (or all) with the same --grid and --strategies' in err


@pytest.mark.parametrize('argv, match', [
    (['--grid', 'yolov3_mobilenet_v1:321'], r'--grid yolov3_mobilenet_v1:321: 321 is not a '
                                            r'multiple of 32 .*e.g. 320 or 352'),
    (['--grid', 'yolov3_r34:0'], r'--grid yolov3_r34:0 must be >= 32, got 0'),
    (['--grid', 'blazeface:640', '--strategies', 'r578'],
     r'--strategies: r578 is a YOLOv3 preset .*for blazeface use --strategies baseline '
     r'\(or uniform_pNN'),
    (['--grid', 'yolov3_r34:608,fcos_r50_fpn:800', '--strategies', 'baseline,sensity,r578@32'],
     r'sensity, r578@32 are YOLOv3 presets .*for fcos_r50_fpn use'),
])
def test_grid_and_strategies_that_cannot_build_are_refused_up_front(argv, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        full_size_latency.main(['--stage', 'build', '--work_dir', str(tmp_path / 'w')] + argv)
    assert not (tmp_path / 'w').exists()


def test_uniform_plans_fit_every_family():
    got = full_size_latency.strategies_for((('blazeface', 640), ('yolov3_r34', 608)),
                                           'baseline,uniform_p40@32')
    assert got['blazeface'] == ['baseline', 'uniform_p40@32']


def test_help_has_no_doubled_defaults():
    out = subprocess.run([sys.executable, 'benchmarks/full_size_latency.py', '--help'],
                         cwd=ROOT, stdout=subprocess.PIPE, universal_newlines=True,
                         env=dict(os.environ, PYTHONPATH=ROOT), check=True).stdout
    text = ' '.join(out.split())
    assert '(default: None)' not in text
    assert 'comma-separated (default 1,2; quick: 1)' in text
    assert '(default: output/full_size_latency)' in text


def test_lite_check_without_paddle_lite_is_refused_before_timing(tmp_path, monkeypatch):
    from ppdet.deploy.lite import LiteEnvMissing
    monkeypatch.setenv('LITE_ENV', str(tmp_path / 'no-lite-env'))
    with pytest.raises(LiteEnvMissing, match='make lite-env'):
        full_size_latency.main(['--quick', '--stage', 'time', '--lite_check', '--work_dir',
                                _work(tmp_path, {}), '--out_dir', str(tmp_path / 'out')])
    assert not (tmp_path / 'out').exists()
