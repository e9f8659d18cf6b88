"""Paddle-Lite: opt in the chroot (x86 and ARM), x86 .nb equals Paddle Inference.

Needs the chroot from `make lite-env`; the first run builds it (about 1-2 minutes) and
skips only where debootstrap cannot run at all (not root, no debootstrap, no network).
"""
import os
import shutil
import subprocess
import sys

import pytest

from ppdet.deploy import Preprocessor, create_predictor, load_infer_cfg, match_batch
from ppdet.deploy import lite

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CANNOT_BOOTSTRAP = ('needs root', 'cannot install debootstrap', 'debootstrap failed',
                    'no apt-get')


@pytest.fixture(scope='session')
def lite_env():
    if lite.lite_env_ready():
        return lite.default_lite_env()
    if os.geteuid() != 0:
        pytest.skip('make lite-env needs root (debootstrap, chroot); not root here')
    if not shutil.which('debootstrap') and not shutil.which('apt-get'):
        pytest.skip('make lite-env needs debootstrap and there is no apt-get to install it')
    try:
        return lite.ensure_lite_env()
    except lite.LiteEnvMissing as e:
        if any(s in str(e) for s in CANNOT_BOOTSTRAP):
            pytest.skip('debootstrap cannot run here (make lite-env): %s' % str(e)[-500:])
        raise


def test_parse_model_ops_table():
    text = ('OPs in the input model include:\n'
            '                                        OP_name  kARM  kHost\n'
            '                                         conv2d     Y       \n'
            '                                           feed            Y\n'
            '                                           relu     Y      Y\n'
            '                                       fancy_op              \n'
            'Paddle-Lite supports this model!\n')
    r = lite.parse_model_ops(text)
    assert r['ops'] == {'conv2d': ['ARM'], 'feed': ['Host'], 'relu': ['ARM', 'Host'],
                        'fancy_op': []}
    assert not r['supported']                          # fancy_op has no kernel


@pytest.mark.slow
@pytest.mark.parametrize('fixture', ['tiny_model_dir', 'yolov3_model_dir'])
def test_lite_x86_equals_paddle_inference(fixture, request, lite_env, images):
    model_dir = request.getfixturevalue(fixture)
    inputs = Preprocessor(load_infer_cfg(model_dir))(images)
    ref = create_predictor(model_dir, 'paddle').run(inputs)
    pred = create_predictor(model_dir, 'lite', cpu_threads=1)
    try:
        assert os.path.isfile(os.path.join(model_dir, 'model_x86.nb'))
        out = pred.run(inputs)
        again = pred.run(inputs)                       # the worker serves repeated runs
        assert pred.peak_memory_mb() > 1
    finally:
        pred.close()
    assert out['bbox_num'].tolist() == ref['bbox_num'].tolist()
    r = match_batch(ref, out)
    assert r['n_a'] > 0 and r['matched_fraction'] == 1.0, r
    assert r['mean_iou'] > 0.9999 and r['max_score_diff'] < 1e-5, r
    assert (again['bbox'] == out['bbox']).all()
    assert pred.worker.proc.poll() is not None       # closed: no process left behind


@pytest.mark.slow
def test_arm_conversion_and_op_check(yolov3_model_dir, lite_env, tmp_path):
    report = lite.model_ops(yolov3_model_dir, 'arm')
    assert report['supported'], report
    assert {'conv2d', 'yolo_box', 'multiclass_nms3'} <= set(report['ops'])
    out = str(tmp_path / 'yolov3_arm')
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'deploy', 'lite', 'convert.py'),
                           '--model_dir', yolov3_model_dir, '--valid_targets', 'arm',
                           '--optimize_out', out], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    # every op of the graph, the candidate bound before NMS (topk, gather) included
    assert 'all %d ops supported on arm' % len(report['ops']) in proc.stdout
    assert os.path.getsize(out + '.nb') > 100000


@pytest.mark.slow
def test_opt_failure_is_reported(lite_env, tmp_path):
    from deploy_models import export_tiny
    model_dir = export_tiny(str(tmp_path))
    with open(os.path.join(model_dir, 'model.pdmodel'), 'wb') as f:
        f.write(b'not a program')
    with pytest.raises(lite.LiteError, match='paddle_lite_opt --valid_targets=x86'):
        lite.optimize(model_dir, 'x86')


@pytest.mark.slow
def test_projection_sums_convert_for_x86(lite_env, tmp_path):
    """Exports write a ResNet projection shortcut's add as a ``sum`` op (for oneDNN int8);
    Paddle-Lite has no x86 ``sum`` kernel, so the staged copy gets adds back and the export
    itself keeps its sums."""
    import paddle
    from paddle.static import InputSpec
    from deploy_models import LABELS, _tiny_cfg, write_infer_cfg
    from test_program_fixes import ProjectionBlock
    from ppdet.deploy.program_fixes import sum_projection_adds
    from ppdet.utils.static_graph import load_program
    paddle.seed(0)
    net = ProjectionBlock()
    net.eval()
    paddle.jit.save(paddle.jit.to_static(net, input_spec=[InputSpec([1, 3, 16, 16], 'float32')]),
                    str(tmp_path / 'model'))
    write_infer_cfg(_tiny_cfg(16), str(tmp_path), LABELS)
    assert sum_projection_adds(str(tmp_path)) == 1
    nb = lite.optimize(str(tmp_path), 'x86')
    assert os.path.getsize(nb) > 1000
    assert [op.type for op in load_program(str(tmp_path))[0].global_block().ops].count('sum') == 1
