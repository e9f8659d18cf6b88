"""benchmarks/architecture_table.py's command line: a seed preset with a config of another
family is refused before any model is built (it built the baseline, then failed on
"unknown parameter 'yolo_block.0.0.0.conv.weights'"); sizes that are not multiples of 32 are
refused."""
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from benchmarks import architecture_table  # noqa: E402

RETINANET = 'configs/builtin/retinanet_r18_builtin.yml'


@pytest.mark.parametrize('argv, match', [
    (['--configs', RETINANET], r'--strategies: sensity/r578 are YOLOv3 presets .*--configs '
                               r'configs/builtin/retinanet_r18_builtin.yml is RetinaNet: use '
                               r'--strategies baseline'),
    (['--configs', 'configs/builtin/yolov3_r18_builtin.yml,' + RETINANET, '--strategies',
      'baseline,r578'], r'r578 is a YOLOv3 preset .* is RetinaNet'),
    (['--sizes', '321'], r'--sizes: 321 is not a multiple of 32'),
    (['--prune_size', '0'], r'--prune_size must be >= 32, got 0'),
])
def test_refused_before_any_model_is_built(argv, match, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    with pytest.raises(ValueError, match=match):
        architecture_table.main(argv + ['--out_dir', str(tmp_path / 'out')])
    assert '[1/' not in capsys.readouterr().out          # no config was started
    assert not (tmp_path / 'out').exists()


def test_baseline_of_another_family_and_presets_of_yolov3_pass_the_check():
    architecture_table.check_presets_fit([os.path.join(ROOT, RETINANET)], [])
    architecture_table.check_presets_fit(
        [os.path.join(ROOT, 'configs/builtin/yolov3_r18_builtin.yml')], ['r578', 'sensity'])



R18 = 'configs/builtin/yolov3_r18_builtin.yml'
TINY = ['--configs', R18, '--strategies', 'baseline', '--sizes', '64', '--prune_size', '64']


def test_out_dir_with_a_table_of_other_settings_is_refused_before_any_model(
        tmp_path, monkeypatch, capsys):
    """The default --out_dir is the committed one: a run with a subset of the configs or
    other sizes replaced the committed table, exit 0; --overwrite replaces it."""
    monkeypatch.chdir(ROOT)
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'architecture.json').write_text(json.dumps({'rows': [], '_settings': {
        'configs': [R18], 'strategies': ['baseline'], 'sizes': [64, 320], 'prune_size': 64}}))
    before = (out / 'architecture.json').read_text()
    with pytest.raises(ValueError, match=r"--out_dir: .*architecture.json holds the results of "
                                         r"another run \(sizes=\[64, 320\]; this run: "
                                         r"sizes=\[64\]\): they would be overwritten; give "
                                         r"another --out_dir \(or --overwrite"):
        architecture_table.main(TINY + ['--out_dir', str(out)])
    assert '[1/' not in capsys.readouterr().out          # no config was started
    assert (out / 'architecture.json').read_text() == before
    architecture_table.main(TINY + ['--out_dir', str(out), '--overwrite'])
    got = json.loads((out / 'architecture.json').read_text())
    assert [r['input_size'] for r in got['rows']] == [64]
    assert got['_settings'] == {'configs': [R18], 'strategies': ['baseline'], 'sizes': [64],
                                'prune_size': 64}
    architecture_table.main(TINY + ['--out_dir', str(out)])      # the same run: rewritten


def test_a_table_from_before_the_record_is_compared_on_its_rows(tmp_path, monkeypatch):
    """The committed architecture.json is a list of rows: its configs (a default config by
    its path), strategies and sizes are compared; the defaults pass."""
    from ppdet.benchmark.architecture import ARCH_CONFIGS
    from ppdet.utils.settings_record import check_results_overwrite
    monkeypatch.chdir(ROOT)
    rows = [{'config': 'yolov3_r34', 'strategy': s, 'input_size': n}
            for s in ('baseline', 'r578') for n in (608, 320)]
    assert architecture_table.recorded_settings(rows) == {
        'configs': ['configs/yolov3_r34.yml'], 'strategies': ['baseline', 'r578'],
        'sizes': [320, 608]}
    path = tmp_path / 'architecture.json'
    path.write_text(json.dumps(rows))
    same = architecture_table.run_settings(['./configs/yolov3_r34.yml'], ['r578', 'baseline'],
                                           [320, 608], 608)

    def check(p, settings):
        check_results_overwrite(str(p), settings, recorded=architecture_table.recorded_settings)
    check(path, same)
    with pytest.raises(ValueError, match=r"strategies=\['baseline', 'r578'\]; this run: "
                                         r"strategies=\['baseline'\]"):
        check(path, dict(same, strategies=['baseline']))
    # the committed table, with the default flags
    args = architecture_table.build_parser().parse_args([])
    defaults = architecture_table.run_settings(args.configs.split(','),
                                               args.strategies.split(','),
                                               [int(s) for s in args.sizes.split(',')],
                                               args.prune_size)
    assert defaults['configs'] == sorted(ARCH_CONFIGS)
    check(os.path.join(ROOT, 'benchmarks', 'results', 'architecture.json'), defaults)
