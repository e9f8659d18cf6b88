"""benchmarks/architecture_table.py's command line: a seed preset with a config of another
family is refused before any model is built (it built the baseline, then failed on
"unknown parameter 'yolo_block.0.0.0.conv.weights'"); sizes that are not multiples of 32 are
refused."""
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
