"""Architecture fidelity: GFLOPs (conv MACs / 1024^3) and size match the seed's figures."""
import os

import paddle
import pytest

from ppdet.core.workspace import create, load_config
from ppdet.utils.model_stats import count_conv_macs, count_flops, gflops, model_stats, param_size_mb

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_CACHE = {}


def _model(name):
    if name not in _CACHE:
        cfg = load_config(os.path.join(ROOT, 'configs', name))
        _CACHE[name] = create(cfg['architecture'], cfg)
    return _CACHE[name]


@pytest.fixture(scope='module', autouse=True)
def _free_models():
    yield
    _CACHE.clear()


def _close(value, expected, tol=0.05):
    return abs(value - expected) <= tol * expected


@pytest.mark.parametrize('size,expected', [(608, 20.64), (416, 9.66), (320, 5.72)])
def test_yolov3_mobilenet_v1_gflops(size, expected):
    value = gflops(count_flops(_model('yolov3_mobilenet_v1.yml'), size))
    assert _close(value, expected), value


def test_yolov3_mobilenet_v1_size():
    value = param_size_mb(_model('yolov3_mobilenet_v1.yml'))
    assert _close(value, 94.6), value


def test_yolov3_mobilenet_v1_voc():
    model = _model('yolov3_mobilenet_v1_voc.yml')
    assert _close(gflops(count_flops(model, 608)), 20.20)
    assert _close(param_size_mb(model), 93.37)


def test_yolov3_r50vd_dcn_seed_convention_skips_dcn():
    model = _model('yolov3_r50vd_dcn.yml')
    macs = count_conv_macs(model, 608)  # one forward pass at 608 for both conventions
    seed = gflops(macs['conv'])
    assert _close(seed, 44.71), seed
    assert _close(param_size_mb(model), 176.82)
    # the deformable convs of res5 add about 2.4 GFLOPs that the seed did not count
    assert 2.0 < gflops(macs['deformable']) < 3.0


def test_backup_buffers_are_not_counted():
    model = _model('yolov3_mobilenet_v1_voc.yml')
    before = param_size_mb(model)
    model.register_buffer('fake_backup', paddle.zeros([1024, 1024]))
    try:
        assert param_size_mb(model) == before
    finally:
        del model._buffers['fake_backup']
    assert param_size_mb(model, blocks=True) >= before


def test_flops_hooks_removed_and_model_stats_rows():
    model = _model('yolov3_mobilenet_v1_voc.yml')
    model.train()
    rows = model_stats(model, [320], ['seed'])
    assert model.training  # mode restored
    assert set(rows[0]) == {'input_size', 'gflops_seed', 'size_mb', 'size_mb_blocks'}
    assert not any(l._forward_post_hooks for l in model.sublayers())
    with pytest.raises(ValueError, match='mode'):
        count_flops(model, 320, mode='bogus')


def test_model_stats_script_prints_table():
    import subprocess
    import sys
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'tools', 'model_stats.py'), '-c',
         os.path.join(ROOT, 'configs', 'yolov3_mobilenet_v1_voc.yml'), '--input_size', '320',
         '--modes', 'seed', '-o', 'num_classes=20'],
        capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS='1'), timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    row = [l for l in out.stdout.splitlines() if l.startswith('320 |')][0].split(' | ')
    assert _close(float(row[1]), 5.60, 0.01) and _close(float(row[2]), 92.65, 0.01)


def test_model_stats_script_takes_h_x_w_sizes():
    import subprocess
    import sys
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'tools', 'model_stats.py'), '-c',
         os.path.join(ROOT, 'configs', 'builtin', 'fcos_r18_builtin.yml'),
         '--input_size', '192', '192x256', '--modes', 'seed'],
        capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS='1'), timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = {l.split(' | ')[0]: float(l.split(' | ')[1]) for l in out.stdout.splitlines()
            if l.startswith('192')}
    assert set(rows) == {'192', '192x256'} and rows['192x256'] > rows['192']


def test_model_stats_script_keeps_three_digits_of_a_small_model():
    """BlazeFace at 320 printed 0.06 GFLOPs (two decimals of 0.0619)."""
    import subprocess
    import sys
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'tools', 'model_stats.py'), '-c',
         os.path.join(ROOT, 'configs', 'face_detection', 'blazeface_builtin.yml'),
         '--input_size', '320', '--modes', 'seed'],
        capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS='1'), timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    row = [l for l in out.stdout.splitlines() if l.startswith('320 |')][0].split(' | ')
    assert row[1] == '0.0619', row
    assert len(row[2].replace('0.', '', 1).lstrip('0')) >= 3, row     # size: 3 digits too


def test_model_stats_help_describes_every_mode():
    import subprocess
    import sys
    from ppdet.utils.model_stats import MODES
    out = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'model_stats.py'), '-h'],
                         capture_output=True, text=True, timeout=120)
    text = ' '.join(out.stdout.split())
    for mode in MODES:
        assert '%s: ' % mode in text, (mode, text)
