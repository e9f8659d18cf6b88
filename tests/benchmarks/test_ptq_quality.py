"""benchmarks/ptq_quality.py without quantizing: its flags are checked before the fp32
evaluation, its defaults are make demo's, and an agreement over no detections says so."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'benchmarks'))

import ptq_quality as pq  # noqa: E402


def _main(monkeypatch, *argv):
    import ppdet.core.workspace as workspace

    def no_work(*args, **kwargs):
        raise AssertionError('loaded the config before checking its arguments')
    monkeypatch.setattr(workspace, 'load_config', no_work)
    monkeypatch.setattr(sys, 'argv', ['ptq_quality.py'] + list(argv))
    return pq.main()


def test_bad_flags_are_refused_before_any_work(monkeypatch, tmp_path):
    (tmp_path / 'model').mkdir()
    (tmp_path / 'coco').mkdir()
    (tmp_path / 'a_file').write_text('')
    ok = ['--model_dir', str(tmp_path / 'model'), '--dataset_dir', str(tmp_path / 'coco'),
          '--work_dir', str(tmp_path / 'work'), '--results', str(tmp_path / 'res' / 'ptq')]
    bad = {('--calib_images=-3',): r'--calib_images must be >= 1, got -3',
           ('--calib_images', '0'): r'--calib_images must be >= 1, got 0',
           ('--threads', '0'): r'--threads must be >= 1, got 0',
           ('--results', str(tmp_path / 'a_file' / 'ptq')): '--results: .* is a file',
           ('--work_dir', str(tmp_path / 'a_file')): '--work_dir: .* is a file',
           ('--algos', 'hsit'): "--algos: unknown 'hsit'.*did you mean",
           ('--model_dir', str(tmp_path / 'gone')): r'--model_dir: .*gone not found$',
           ('--dataset_dir', str(tmp_path / 'gone')): r'--dataset_dir: .*gone not found$'}
    for argv, says in bad.items():
        with pytest.raises(ValueError, match=says):
            _main(monkeypatch, *(ok + list(argv)))
    assert sorted(os.listdir(str(tmp_path))) == ['a_file', 'coco', 'model']


def test_defaults_are_make_demos_and_say_how_to_make_them(monkeypatch, tmp_path):
    assert pq.MODEL_DIR == 'output/pipeline/inference/baseline'   # tools/pipeline.py's
    assert pq.DATASET_DIR == 'dataset/builtin/coco'
    monkeypatch.chdir(tmp_path)                          # where make demo has not run
    with pytest.raises(ValueError, match='--model_dir: output/pipeline/inference/baseline '
                                         'not found; run make demo first'):
        _main(monkeypatch)
    os.makedirs(pq.MODEL_DIR)
    with pytest.raises(ValueError, match='--dataset_dir: dataset/builtin/coco not found; run '
                                         'make demo first .* or give --dataset_dir'):
        _main(monkeypatch)
    assert not os.path.exists('benchmarks')


def test_no_detections_compared_is_not_full_agreement(tmp_path):
    assert pq.agreement_text(None, 0, 0) == pq.agreement_text(100.0, 0, 0) == 'nothing compared'
    assert pq.agreement_text(97.5, 78, 80) == '97.5% (78/80)'
    row = {'AP_simulated': 0.0, 'AP_deployed': 0.0, 'deployed_minus_simulated': 0.0,
           'agreement': None, 'matched': 0, 'compared': 0, 'loss_vs_fp32': -1.0, 'ptq_s': 3}
    res = {'cpu': 'x', 'cpu_flags': [], 'date': '2026-12-05 11:10', 'model_dir': 'm',
           'fp32_AP': 1.0, 'calib_images': 4,
           'dataset_dir': 'd', 'threads': 1, 'command': 'c', 'rows': {'default/hist': row},
           'fp32_bf16_AP': 1.0, 'fp32_bf16_AP_agreement': None, 'fp32_bf16_compared': 0}
    pq.write_md(str(tmp_path / 'p.md'), res)
    text = (tmp_path / 'p.md').read_text()
    assert '| nothing compared |' in text and '(0/0)' not in text
    assert 'no detections to compare' in text
    assert 'Date: 2026-12-05 11:10' in text          # beside the CPU, not only in the JSON
