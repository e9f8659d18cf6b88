"""benchmarks/pruning_levels.py checks its inputs before the first table: a -c of another
model than the work dir was made with (it printed the first table, then failed on the
weights) and a --dataset_dir without the eval annotations (it failed with [Errno 2] naming no
flag)."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from benchmarks import pruning_levels  # noqa: E402

RETINANET = 'configs/builtin/retinanet_r18_builtin.yml'


def _work_dir(tmp_path):
    """A YOLOv3 main job's work dir with its settings record and one fine-tuned pruning row."""
    from ppdet.pipeline.main_job import Pipeline
    from ppdet.utils.fileio import write_json
    work = str(tmp_path / 'work')
    settings = Pipeline(pruning_levels.DEFAULT_CONFIG, work_dir=work).settings('yolov3')
    write_json(os.path.join(work, 'results.json'), {
        '_settings': settings, 'prune_plans': {}, 'baseline': {'AP': 0.5},
        'prune_r578_derived_s0': {'plan': 'derived', 'cut_of': 'r578', 'AP': 0.3}})
    return work


def test_config_of_another_model_than_the_work_dir_is_refused_first(tmp_path, monkeypatch,
                                                                      capsys):
    monkeypatch.chdir(ROOT)
    with pytest.raises(ValueError, match=r'-c %s: --work_dir .* was made with -c %s .*give -c '
                                         % (RETINANET, pruning_levels.DEFAULT_CONFIG)):
        pruning_levels.main(['-c', RETINANET, '--work_dir', _work_dir(tmp_path), '--out',
                             str(tmp_path / 'x.json')])
    assert capsys.readouterr().out == ''            # no table printed
    assert not (tmp_path / 'x.json').exists()


def test_without_c_the_recorded_config_is_read():
    class Args:
        config, work_dir = None, os.path.join(ROOT, 'none')
    assert pruning_levels.work_dir_config(Args) == pruning_levels.DEFAULT_CONFIG


def test_missing_dataset_names_the_flag_and_the_generator(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    none = str(tmp_path / 'nonexist')
    with pytest.raises(ValueError, match=r'--dataset_dir: %s/coco/.*not found .*python '
                                         r'tools/gen_dataset.py --output_dir %s' % (none, none)):
        pruning_levels.main(['--work_dir', _work_dir(tmp_path), '--dataset_dir', none,
                             '--out', str(tmp_path / 'x.json')])
    assert capsys.readouterr().out == ''
