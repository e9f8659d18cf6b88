"""Bad input to the deployment scripts: one ``error:`` line (exit 2) before the model is
loaded, naming the flag and the fix.

The model directory given is a real-looking path that holds no export: a check that ran
after loading the model would report that instead, so these also show the order."""
import os
import subprocess
import sys

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
