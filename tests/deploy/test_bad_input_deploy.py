"""Bad input to the deployment scripts: one ``error:`` line (exit 2) before the model is
loaded, naming the flag and the fix.

The model directory given is a real-looking path that holds no export: a check that ran
after loading the model would report that instead, so these also show the order."""
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INFER = os.path.join(ROOT, 'deploy', 'python', 'infer.py')
CONVERT = os.path.join(ROOT, 'deploy', 'lite', 'convert.py')


def fail(script, *args, env=None):
    proc = subprocess.run([sys.executable, script] + [str(a) for a in args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, OMP_NUM_THREADS='1', **(env or {})))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-3000:]
    assert 'Traceback' not in out, out[-3000:]
    lines = proc.stderr.rstrip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), out[-3000:]
    return lines[0]


@pytest.fixture
def paths(tmp_path):
    img_dir = tmp_path / 'images'
    img_dir.mkdir()
    (img_dir / 'a.jpg').write_bytes(b'\xff\xd8 not decoded before the checks')
    afile = tmp_path / 'afile'
    afile.write_text('a file where a directory is expected')
    return {'model': str(tmp_path / 'no_export'), 'images': str(img_dir), 'afile': str(afile)}


@pytest.mark.parametrize('flags,message', [
    (['--batch_size', '0'], '--batch_size must be >= 1, got 0'),
    (['--batch_size', '-2'], '--batch_size must be >= 1, got -2'),
    (['--threshold', '-0.5'], '--threshold must be in [0.0, 1.0], got -0.5'),
    (['--threshold', '2'], '--threshold must be in [0.0, 1.0], got 2.0'),
    # onnxruntime took 0 as "all cores", Paddle as 1
    (['--cpu_threads', '0'], '--cpu_threads must be >= 1, got 0'),
    (['--cpu_threads', '-3'], '--cpu_threads must be >= 1, got -3'),
])
def test_infer_refuses_bad_numbers_before_loading_the_model(paths, flags, message):
    err = fail(INFER, '--model_dir', paths['model'], '--image_dir', paths['images'], *flags)
    assert message in err


def test_infer_output_dir_that_is_a_file(paths):
    err = fail(INFER, '--model_dir', paths['model'], '--image_dir', paths['images'],
               '--output_dir', os.path.join(paths['afile'], 'out'))
    assert '--output_dir: %s is a file, not a directory' % paths['afile'] in err


def test_infer_image_file_that_is_a_directory(paths):
    err = fail(INFER, '--model_dir', paths['model'], '--image_file', paths['images'])
    assert '--image_file %s is a directory; give it as --image_dir' % paths['images'] in err


def _video(path, frames=3):
    import cv2
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), 10, (64, 48))
    assert writer.isOpened()
    for i in range(frames):
        writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    writer.release()
    return str(path)


def test_infer_output_dir_that_would_overwrite_the_images(paths, tmp_path):
    """--output_dir = --image_dir drew over the input images (a rerun drew on the drawings)."""
    before = open(os.path.join(paths['images'], 'a.jpg'), 'rb').read()
    link = tmp_path / 'link'
    link.symlink_to(paths['images'])
    for images, out in ((paths['images'], paths['images']),
                        (paths['images'], paths['images'] + os.sep + '.'),
                        (paths['images'], str(link))):
        err = fail(INFER, '--model_dir', paths['model'], '--image_dir', images,
                   '--output_dir', out)
        assert ('--output_dir: %s would overwrite the input image %s; give another '
                '--output_dir' % (os.path.join(out, 'a.jpg'), os.path.join(images, 'a.jpg'))
                in err)
    err = fail(INFER, '--model_dir', paths['model'], '--image_file',
               os.path.join(paths['images'], 'a.jpg'), '--output_dir', paths['images'])
    assert 'would overwrite the input image' in err
    assert open(os.path.join(paths['images'], 'a.jpg'), 'rb').read() == before


def test_infer_output_dir_that_would_overwrite_the_video(paths, tmp_path):
    """--video_file D/clip.mp4 --output_dir D destroyed the video and exited 0."""
    video = _video(tmp_path / 'clip.mp4')
    before = open(video, 'rb').read()
    err = fail(INFER, '--model_dir', paths['model'], '--video_file', video,
               '--output_dir', str(tmp_path))
    assert ('--output_dir: %s would overwrite the input video %s; give another --output_dir'
            % (video, video)) in err
    assert open(video, 'rb').read() == before


def test_infer_video_that_is_missing_or_not_a_video(paths, tmp_path):
    """Checked before the model loads (it was found out only after loading)."""
    missing = str(tmp_path / 'none.mp4')
    err = fail(INFER, '--model_dir', paths['model'], '--video_file', missing)
    assert '--video_file: %s not found' % missing in err
    err = fail(INFER, '--model_dir', paths['model'], '--video_file', paths['afile'])
    assert '--video_file: OpenCV cannot read a frame of %s' % paths['afile'] in err


@pytest.fixture
def photo_file(tmp_path):
    import cv2
    from deploy_models import synthetic_image
    path = str(tmp_path / 'photo.jpg')
    cv2.imwrite(path, synthetic_image(1))
    return path


def test_infer_model_dir_that_holds_exports_names_them(tiny_model_dir, tmp_path, photo_file):
    """--model_dir output/inference (the parent of the exports): the error names them."""
    import shutil
    parent = tmp_path / 'inference'
    for name in ('yolov3', 'tiny'):
        shutil.copytree(tiny_model_dir, str(parent / name))
    (parent / 'notes').mkdir()
    err = fail(INFER, '--model_dir', parent, '--image_file', photo_file)
    assert ('%s is not an exported model directory (missing model.pdmodel, model.pdiparams, '
            'infer_cfg.yml); give one of the exports in it: %s, %s'
            % (parent, parent / 'tiny', parent / 'yolov3')) in err


def _corrupt(tiny_model_dir, tmp_path, name, damage):
    """A copy of the tiny export (a new folder under ``tmp_path``) with ``name`` damaged."""
    import shutil
    import tempfile
    broken = tempfile.mkdtemp(prefix='broken_', dir=str(tmp_path))
    # the export alone: not the model.onnx another test of this process converted into the
    # shared fixture dir (the check below is that none is written for a broken model)
    shutil.copytree(tiny_model_dir, broken, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns('model.onnx*', 'model_*.nb*'))
    path = os.path.join(broken, name)
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(damage(data))
    return broken


REEXPORT = 're-export it with tools/export_model.py'


@pytest.mark.parametrize('run_mode', ['paddle', 'onnx'])
def test_infer_corrupt_program(tiny_model_dir, tmp_path, photo_file, run_mode):
    """Garbage in model.pdmodel: Paddle Inference segfaulted (rc 139), paddle2onnx died with a
    protobuf DecodeError traceback; an empty file is no program either."""
    for damage in (lambda d: bytes(np.random.RandomState(0).randint(0, 256, 3000, np.uint8)),
                   lambda d: d[:len(d) // 2], lambda d: b''):
        broken = _corrupt(tiny_model_dir, tmp_path, 'model.pdmodel', damage)
        err = fail(INFER, '--model_dir', broken, '--image_file', photo_file, '--run_mode',
                   run_mode, '--output_dir', tmp_path / 'out')
        assert err == ('error: %s/model.pdmodel is not a Paddle program (corrupt or truncated): '
                       '%s' % (broken, REEXPORT))
        assert not os.path.exists(os.path.join(broken, 'model.onnx'))


@pytest.mark.parametrize('run_mode', ['paddle', 'onnx'])
def test_infer_truncated_or_corrupt_params(tiny_model_dir, tmp_path, photo_file, run_mode):
    """A truncated model.pdiparams: a multi-line RuntimeError of Paddle's load_combine op
    (paddle), paddle2onnx's 'Input conv2d_2.w_0 is undefined' (onnx); garbage of the right
    size, or another model's parameters: Paddle's error, paddle2onnx aborted (SIGABRT)."""
    def run(broken):
        return fail(INFER, '--model_dir', broken, '--image_file', photo_file, '--run_mode',
                    run_mode, '--output_dir', tmp_path / 'out')
    broken = _corrupt(tiny_model_dir, tmp_path, 'model.pdiparams', lambda d: d[:5000])
    assert run(broken) == ('error: %s/model.pdiparams is truncated (5000 bytes: it ends inside '
                           'tensor 4 of 9): %s' % (broken, REEXPORT))
    other = os.path.join(str(tmp_path), 'other.pdiparams')
    with open(other, 'wb') as f:     # a bigger model's parameters (the same first tensors)
        f.write(open(os.path.join(tiny_model_dir, 'model.pdiparams'), 'rb').read() * 2)
    for damage in (lambda d: bytes(255 - b for b in d), lambda d: open(other, 'rb').read()):
        broken = _corrupt(tiny_model_dir, tmp_path, 'model.pdiparams', damage)
        assert run(broken) == ("error: %s/model.pdiparams is not the parameters of "
                               "%s/model.pdmodel (corrupt, or another model's): %s"
                               % (broken, broken, REEXPORT))


def test_infer_params_paddle_cannot_load(tiny_model_dir, tmp_path, photo_file):
    """What gets past the check (here a first tensor of a dtype it does not follow,
    complex128): Paddle's own error, in one line naming the file."""
    def complex_first_tensor(data):
        assert data[20:22] == bytes([8, 5])            # its TensorDesc: data_type FP32
        return data[:21] + bytes([24]) + data[22:]     # COMPLEX128
    broken = _corrupt(tiny_model_dir, tmp_path, 'model.pdiparams', complex_first_tensor)
    err = fail(INFER, '--model_dir', broken, '--image_file', photo_file,
               '--output_dir', tmp_path / 'out')
    assert err.startswith("error: %s/model.pdiparams cannot be loaded as the parameters of "
                          "%s/model.pdmodel (corrupt, or another model's): %s (Paddle: "
                          % (broken, broken, REEXPORT))


def test_infer_invalid_infer_cfg(tiny_model_dir, tmp_path, photo_file):
    """infer_cfg.yml that is not YAML: a yaml scanner traceback; a list: a TypeError."""
    broken = _corrupt(tiny_model_dir, tmp_path, 'infer_cfg.yml',
                      lambda d: d + b'Preprocess: [a, b\n')
    err = fail(INFER, '--model_dir', broken, '--image_file', photo_file)
    assert err.startswith('error: %s/infer_cfg.yml is not valid YAML (line ' % broken)
    assert err.endswith('): %s' % REEXPORT)
    broken = _corrupt(tiny_model_dir, tmp_path, 'infer_cfg.yml', lambda d: b'- a\n- b\n')
    err = fail(INFER, '--model_dir', broken, '--image_file', photo_file)
    assert err == ('error: %s/infer_cfg.yml is not a mapping of settings (its top level is a '
                   'list): %s' % (broken, REEXPORT))


def test_lite_convert_names_a_missing_model_dir_before_the_lite_environment(paths, tmp_path):
    env = {'LITE_ENV': str(tmp_path / 'no-lite-env')}
    err = fail(CONVERT, '--model_dir', paths['model'], env=env)
    assert '%s is not an exported model directory' % paths['model'] in err
    assert 'Paddle-Lite environment' not in err


def test_lite_convert_optimize_out_under_a_file(paths, tmp_path):
    err = fail(CONVERT, '--model_dir', paths['model'], '--optimize_out',
               os.path.join(paths['afile'], 'model_arm'),
               env={'LITE_ENV': str(tmp_path / 'no-lite-env')})
    assert '--optimize_out: %s is a file, not a directory' % paths['afile'] in err


def test_an_exclude_nms_export_is_refused_where_detections_are_needed(tiny_model_dir, tmp_path):
    """eval.py --model_dir on an --exclude_nms export died with KeyError 'bbox'; the
    Detector and the exported-model evaluation now share one refusal."""
    import shutil
    from ppdet.deploy import Detector
    from ppdet.deploy.infer_cfg import update_infer_cfg
    from ppdet.engine.infer_eval import evaluate_exported
    raw = str(tmp_path / 'raw')
    shutil.copytree(tiny_model_dir, raw)
    update_infer_cfg(raw, exclude_nms=True)
    message = r'raw was exported with exclude_nms .*: %s needs NMS inside; export without'
    with pytest.raises(ValueError, match=message % 'evaluation'):
        evaluate_exported({}, raw)
    with pytest.raises(ValueError, match=message % 'the detector'):
        Detector(raw)
