"""The on-device ARM runner: it stops with instructions anywhere else, feeds a model as the
.json convert.py writes says, and (run on an x86 .nb in the Lite chroot) gives Paddle
Inference's detections; compare_detections.py matches two runs' saved detections."""
import os
import platform
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from ppdet.deploy import Detector, lite

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, 'deploy', 'lite', 'arm_benchmark.py')
COMPARE = os.path.join(ROOT, 'deploy', 'lite', 'compare_detections.py')


def _run(*args):
    return subprocess.run([sys.executable] + list(args), capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


@pytest.mark.skipif(platform.machine().lower() in ('aarch64', 'arm64'),
                    reason='on ARM the runner really runs')
def test_arm_runner_needs_an_arm_device(tmp_path):
    nb = tmp_path / 'model_arm.nb'
    nb.write_bytes(b'x')
    proc = _run(SCRIPT, '--model_file', str(nb))
    assert proc.returncode == 2
    assert proc.stderr.startswith('error: this runner needs an ARM device (aarch64) with '
                                  'paddlelite installed; this machine is %s. copy the .nb and '
                                  'this script to the phone/board: '
                                  % platform.machine().lower())
    assert 'deploy/lite/README.md' in proc.stderr and 'Traceback' not in proc.stderr


def test_arm_runner_needs_the_json_beside_the_nb(tmp_path):
    nb = tmp_path / 'model_arm.nb'
    nb.write_bytes(b'x')
    proc = _run(SCRIPT, '--model_file', str(nb), '--any_machine')
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr
    assert proc.stderr.startswith('error: %s not found: copy the .json that '
                                  'deploy/lite/convert.py wrote' % (tmp_path / 'model_arm.json'))


def test_device_preprocess(tiny_model_dir):
    from ppdet.deploy import load_infer_cfg
    cfg = load_infer_cfg(tiny_model_dir)
    pre = lite.device_preprocess(cfg)
    assert pre == {'inputs': ['image', 'im_shape', 'scale_factor'], 'height': 64, 'width': 64,
                   'interp': 2, 'fused': False, 'mean': [0.485, 0.456, 0.406],
                   'std': [0.229, 0.224, 0.225], 'is_scale': True}
    fused = lite.device_preprocess(dict(cfg, fuse_preprocess=True))
    assert fused['fused'] and 'mean' not in fused
    keep = dict(cfg, Preprocess=[dict(cfg['Preprocess'][0], keep_ratio=True)])
    with pytest.raises(ValueError, match=r"fixed-size Resize.*'Resize \(keep_ratio\)'"):
        lite.device_preprocess(keep)


def test_compare_detections(tmp_path):
    rows = np.array([[0, 0.9, 0, 0, 10, 10], [1, 0.8, 5, 5, 20, 20], [1, 0.1, 0, 0, 3, 3]],
                    np.float32)
    np.savez(tmp_path / 'ref.npz', bbox=rows, bbox_num=np.array([3], np.int32))
    moved = rows[[0, 1]] + np.array([0, -0.01, 1, 0, 1, 0], np.float32)   # IoU 0.82, 0.88
    np.savez(tmp_path / 'same.npz', bbox=moved, bbox_num=np.array([2], np.int32))
    proc = _run(COMPARE, str(tmp_path / 'same.npz'), str(tmp_path / 'ref.npz'))
    assert proc.returncode == 0, proc.stderr
    assert 'agreement: 2 of 2 detections (100.0%) scoring >= 0.3' in proc.stdout
    proc = _run(COMPARE, str(tmp_path / 'same.npz'), str(tmp_path / 'ref.npz'),
                '--score_threshold', '0')
    assert 'agreement: 2 of 3 detections (66.7%)' in proc.stdout
    np.savez(tmp_path / 'two.npz', bbox=moved, bbox_num=np.array([1, 1], np.int32))
    proc = _run(COMPARE, str(tmp_path / 'two.npz'), str(tmp_path / 'ref.npz'))
    assert proc.returncode == 2 and 'not the same input' in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize('fused', [False, True])
def test_runner_on_an_x86_nb_gives_paddle_inference_detections(fused, yolov3_model_dir,
                                                                lite_env, photo, tmp_path):
    """The runner as a phone runs it, here on the x86 .nb in the chroot (--any_machine): fed
    as the .json says (float NCHW normalised, or the fused export's uint8 NHWC), its saved
    detections are Paddle Inference's on the same pixels."""
    from deploy_models import export_yolov3
    from ppdet.deploy.compare import match_detections
    model_dir = export_yolov3(str(tmp_path / 'fused'), fuse_preprocess=True) if fused \
        else yolov3_model_dir
    out = str(tmp_path / 'model_x86')
    proc = _run(os.path.join(ROOT, 'deploy', 'lite', 'convert.py'), '--model_dir', model_dir,
                '--valid_targets', 'x86', '--optimize_out', out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    image = cv2.resize(photo, (128, 128), interpolation=cv2.INTER_AREA)   # the model's size
    with lite._Scratch(lite_env) as scratch:
        for src in (SCRIPT, out + '.nb', out + '.json'):
            shutil.copy(src, scratch.host)
        np.save(os.path.join(scratch.host, 'image.npy'), image)
        inner = scratch.inner + '/'
        run = subprocess.run(lite._chroot(lite_env, [
            lite.LITE_PY, inner + 'arm_benchmark.py', '--model_file', inner + 'model_x86.nb',
            '--any_machine', '--image_npy', inner + 'image.npy', '--warmup', '1',
            '--repeats', '2', '--save_detections', inner + 'dets.npz']),
            capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr
        assert 'input 128x128: mean' in run.stdout
        with np.load(os.path.join(scratch.host, 'dets.npz')) as f:
            got = f['bbox'][:int(f['bbox_num'][0])]
    det = Detector(model_dir, 'paddle')
    try:
        want = det.predict([image])[0]
    finally:
        det.close()
    m = match_detections(want, got)
    assert m['n_a'] > 0 and m['matched_fraction'] == 1.0 and m['max_score_diff'] < 1e-4, m
