"""benchmarks/ptq_quality.py: a results file holds the rows of one setup.  A run with other
settings (dataset, calibration images, model, ...) used to merge its rows with the file's
under its own header, their loss taken against the other setup's fp32 AP, exit 0; now it is
refused before any work, naming --results and --fresh.  Runs of the same settings still
merge, each row with its command."""
import argparse
import json
import os
import shutil
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'benchmarks'))

import ptq_quality as pq  # noqa: E402
from ppdet.utils.settings_record import SETTINGS_KEY  # noqa: E402

ROW = {'AP_simulated': 30.0, 'AP_deployed': 29.5, 'deployed_minus_simulated': -0.5,
       'agreement': 97.0, 'matched': 97, 'compared': 100, 'loss_vs_fp32': -0.5, 'ptq_s': 3}


class WorkStarted(Exception):
    """Raised where the real run would load its config: the run got past its checks."""


def _main(monkeypatch, *argv):
    import ppdet.core.workspace as workspace

    def started(*args, **kwargs):
        raise WorkStarted()
    monkeypatch.setattr(workspace, 'load_config', started)
    monkeypatch.setattr(sys, 'argv', ['ptq_quality.py'] + list(argv))
    return pq.main()


def _dirs(tmp_path):
    for name in ('model', 'D1/coco', 'D2/coco'):
        (tmp_path / name).mkdir(parents=True)
    return {k: str(tmp_path / k) for k in ('model', 'D1/coco', 'D2/coco')}


def _earlier_run(tmp_path, results, dataset_dir, calib_images):
    """The file a finished run of abs_max with these settings left."""
    d = _dirs(tmp_path)
    args = argparse.Namespace(model_dir=d['model'], dataset_dir=d[dataset_dir], config=None,
                              opt=[], calib_images=calib_images, threads=1)
    res = {SETTINGS_KEY: pq.run_settings(args), 'fp32_AP': 30.0, 'model_dir': d['model'],
           'rows': {'default/abs_max': dict(ROW, command='python first')}}
    with open(results + '.json', 'w') as f:
        json.dump(res, f)
    return d


def test_other_settings_are_refused_before_any_work(monkeypatch, tmp_path):
    results = str(tmp_path / 'R')
    d = _earlier_run(tmp_path, results, 'D1/coco', 2)
    before = open(results + '.json').read()
    common = ['--model_dir', d['model'], '--work_dir', str(tmp_path / 'W'),
              '--results', results]
    with pytest.raises(ValueError) as e:
        _main(monkeypatch, *(common + ['--dataset_dir', d['D2/coco'], '--algos', 'avg',
                                       '--calib_images', '4']))
    msg = str(e.value)
    assert msg.startswith(results + '.json was made with other settings')
    assert "calib_images=2, dataset_dir='%s'" % d['D1/coco'] in msg
    assert "calib_images=4, dataset_dir='%s'" % d['D2/coco'] in msg
    assert 'give another --results' in msg and '--fresh' in msg
    assert open(results + '.json').read() == before
    assert not os.path.exists(results + '.md') and not os.path.exists(str(tmp_path / 'W'))
    # the same settings go on (another algo adds its row to the file's) ...
    with pytest.raises(WorkStarted):
        _main(monkeypatch, *(common + ['--dataset_dir', d['D1/coco'], '--algos', 'avg',
                                       '--calib_images', '2']))
    # ... and so do other ones with --fresh, which leaves the file until its first row
    with pytest.raises(WorkStarted):
        _main(monkeypatch, *(common + ['--dataset_dir', d['D2/coco'], '--calib_images', '4',
                                       '--fresh']))
    assert json.load(open(results + '.json'))['rows'].keys() == {'default/abs_max'}


def test_results_of_the_same_settings_are_extended_with_their_fp32_ap(tmp_path):
    results = str(tmp_path / 'R')
    d = _earlier_run(tmp_path, results, 'D1/coco', 2)
    args = pq.build_parser().parse_args(['--model_dir', d['model'] + '/', '--dataset_dir',
                                         d['D1/coco'], '--calib_images', '2', '--results',
                                         results])
    res = pq.results_to_extend(args, pq.run_settings(args))
    assert res['fp32_AP'] == 30.0 and list(res['rows']) == ['default/abs_max']
    args.fresh = True
    assert pq.results_to_extend(args, pq.run_settings(args))['rows'] == {}


def test_make_demo_defaults_are_refused_the_committed_results_naming_results(monkeypatch,
                                                                             tmp_path):
    """With the defaults on a user's own make demo output the committed file (another
    model, from before the settings record) lost all its rows to the new run's."""
    committed = os.path.join(ROOT, pq.RESULTS + '.json')
    monkeypatch.chdir(tmp_path)
    os.makedirs(pq.MODEL_DIR)
    os.makedirs(pq.DATASET_DIR)
    os.makedirs('benchmarks/results')
    shutil.copy(committed, pq.RESULTS + '.json')
    with pytest.raises(ValueError, match="model_dir='output/pipeline/inference/baseline'.* "
                                         'give another --results for this run.*the default '
                                         '--results holds the committed results.*--fresh'):
        _main(monkeypatch)
    assert open(pq.RESULTS + '.json').read() == open(committed).read()
    assert sorted(os.listdir('benchmarks/results')) == ['ptq_quality.json']


def test_every_flag_has_help():
    """--work_dir, --variants, --calib_images and --threads had no help line."""
    for action in pq.build_parser()._actions:
        assert action.help, action.option_strings
    text = pq.build_parser().format_help()
    assert 'split (on a copy with' in text and 'first N TrainDataset images' in text


def test_md_names_the_commands_of_merged_rows(tmp_path):
    res = {'cpu': 'x', 'cpu_flags': [], 'date': 'd', 'model_dir': 'm', 'fp32_AP': 30.0,
           'calib_images': 2, 'dataset_dir': 'd', 'threads': 1, 'command': 'python second',
           'rows': {'default/abs_max': dict(ROW, command='python first'),
                    'default/avg': dict(ROW, command='python second')}}
    pq.write_md(str(tmp_path / 'p.md'), res)
    text = (tmp_path / 'p.md').read_text()
    assert 'command: `python second`' in text and 'rows also from: `python first`' in text
