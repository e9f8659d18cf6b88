"""The full-size table's Paddle-Lite check: ARM conversion of every fused row, the fp32
rows' x86 .nb against Paddle Inference, no x86 run of an int8 row."""
import numpy as np
import pytest

from ppdet.benchmark.full_size_lite import (format_lite_checks, int8_handoffs, lite_checks,
                                           row_differences)


def _row(model_dir, strategy, int8, fused=True):
    return {'dir': model_dir, 'config': 'yolov3_mobilenet_v1', 'input_size': 128,
            'strategy': strategy, 'int8': int8, 'fuse_preprocess': fused}


def test_format_lite_checks():
    base = {'config': 'yolov3_mobilenet_v1', 'input_size': 320, 'int8_outputs': False,
            'residual_adds': False}
    checks = {
        'a': dict(base, strategy='baseline', int8=False, arm_nb_mb=93.9, arm_missing_ops=[],
                  arm_convs=52, arm_int8_convs=0, model_int8_convs=0,
                  x86_matched=0.41, x86_detections=377, paddle_detections=377, x86_ms=193.04,
                  images_compared=5, max_score_diff=2.9e-6, max_box_diff=0.0123,
                  same_classes=True),
        'b': dict(base, strategy='r578', int8=True, arm_nb_mb=8.5, arm_missing_ops=[],
                  arm_convs=52, arm_int8_convs=49, model_int8_convs=49,
                  arm_int8_handoffs={'count': 44, 'mismatched': 0}),
        'c': dict(base, strategy='r578', int8=True, int8_outputs=True,
                  arm_error='LiteError: paddle_lite_opt crashed'),
        'd': dict(base, strategy='sensity', int8=False, arm_nb_mb=66.9,
                  arm_missing_ops=['fancy_op'], arm_convs=52, arm_int8_convs=0,
                  model_int8_convs=0, x86_error='LiteError: runner exited')}
    md = format_lite_checks(checks)
    rows = [l for l in md.splitlines() if l.startswith('| ') and not l.startswith('| model')]
    assert rows == [
        '| baseline | 93.9 | none | 0 of 52 (0) | 41% (377 / 377) | 2.9e-06 / 1.2e-02 px | '
        '193.0 |',
        '| r578 + int8 | 8.5 | none | 49 of 52 (49); 44 int8 hand-offs, scales equal | - (int8) '
        '| - | - |',
        '| r578 + int8 (output convs int8 too) | failed: LiteError: paddle_lite_opt crashed | '
        '- | - | - (int8) | - | - |',
        '| sensity | 66.9 | fancy_op | 0 of 52 (0) | failed: LiteError: runner exited | - | - |']
    assert '### yolov3_mobilenet_v1 at 320' in md and 'x86 int8 convolutions' in md


def test_row_differences():
    rows = np.array([[1, 0.9, 0, 0, 10, 0], [2, 0.5, 1, 1, 5, 5], [2, 0.5, 50, 50, 60, 60]],
                    np.float32)
    moved = rows + np.array([0, 1e-6, 0, 0, 0.25, 0], np.float32)
    d = row_differences([rows, rows, rows[:0]], [moved, rows[:1], rows[:0]])
    assert d['images_compared'] == 1 and d['same_classes']       # only equal, non-empty counts
    assert d['max_score_diff'] == pytest.approx(1e-6, abs=1e-7)
    assert d['max_box_diff'] == pytest.approx(0.25)
    # rows tied in score, in another order: each finds its own
    assert row_differences([rows], [rows[[0, 2, 1]]])['max_box_diff'] == 0
    other = rows.copy()
    other[0, 0] = 3
    assert not row_differences([rows], [other])['same_classes']
    assert row_differences([rows], [rows[:1]])['max_score_diff'] is None


def _kernel(op, alias, reads, writes, in_scale=None, out_scale=None):
    return {'op': op, 'alias': alias, 'precision': 'int8' if in_scale else 'float',
            'inputs': reads, 'outputs': writes, 'input_scale': in_scale,
            'output_scale': out_scale}


def test_int8_handoffs():
    chain = [_kernel('calib', 'fp32_to_int8', ['x'], ['q']),
             _kernel('conv2d', 'int8_out', ['q'], ['a'], 0.5, 0.25),
             _kernel('conv2d', 'int8_out', ['a'], ['b'], 0.25, 0.125),
             _kernel('conv2d', 'fp32_out', ['b'], ['a'], 0.125),      # rewrites 'a' in float
             _kernel('conv2d', 'int8_out', ['a'], ['c'], 0.3, 0.1)]   # reads the float 'a'
    assert int8_handoffs(chain) == {'count': 2, 'mismatched': 0}
    chain[2]['input_scale'] = 0.3
    assert int8_handoffs(chain) == {'count': 2, 'mismatched': 1}


def test_lite_checks_need_the_lite_environment(tmp_path):
    from ppdet.deploy.lite import LiteEnvMissing
    with pytest.raises(LiteEnvMissing, match='make lite-env'):
        lite_checks({'rows': {}}, [], None, lite_env=str(tmp_path / 'none'))


@pytest.mark.slow
def test_lite_checks_on_a_yolov3_and_its_int8_model(yolov3_model_dir, yolov3_int8_dir, images,
                                                     photo, lite_env):
    manifest = {'rows': {'fp32': _row(yolov3_model_dir, 'baseline', False),
                         'int8': _row(yolov3_int8_dir, 'baseline', True),
                         'unfused': _row(yolov3_model_dir, 'baseline', False, fused=False)}}
    checks = lite_checks(manifest, images, photo, repeats=1, lite_env=lite_env,
                         progress=lambda _: None)
    assert list(checks) == ['fp32', 'int8']            # the unfused twin is the same network
    fp32, int8 = checks['fp32'], checks['int8']
    assert fp32['arm_missing_ops'] == [] and int8['arm_missing_ops'] == []
    assert fp32['x86_matched'] == 1.0 and fp32['x86_detections'] == fp32['paddle_detections']
    assert fp32['same_classes'] and fp32['max_score_diff'] < 1e-4
    assert fp32['x86_ms'] > 0
    assert 'x86_matched' not in int8 and 'x86_error' not in int8      # never run on x86
    # opt keeps the int8 weights in the ARM .nb, and gives every conv the model quantizes an
    # int8 kernel (the declared float-only output convs stay float)
    assert int8['arm_nb_mb'] < 0.5 * fp32['arm_nb_mb']
    assert fp32['arm_int8_convs'] == fp32['model_int8_convs'] == 0
    assert 0 < int8['model_int8_convs'] == int8['arm_int8_convs'] < int8['arm_convs']
    assert int8['arm_convs'] == fp32['arm_convs']
    assert int8['arm_int8_handoffs']['count'] > 0 and int8['arm_int8_handoffs']['mismatched'] == 0
    assert fp32['arm_int8_handoffs']['count'] == 0
