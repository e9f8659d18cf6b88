"""deploy/python/infer.py on an image, a directory and a video; its errors."""
import importlib.util
import os
import subprocess
import sys

import cv2
import numpy as np
import paddle
import pytest

from deploy_models import as_int8_model, synthetic_image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, 'deploy', 'python', 'infer.py')


@pytest.fixture(scope='module')
def infer():
    spec = importlib.util.spec_from_file_location('deploy_infer', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def image_dir(tmp_path, photo):
    d = tmp_path / 'images'
    d.mkdir()
    cv2.imwrite(str(d / 'photo.jpg'), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(d / 'shapes.png'), cv2.cvtColor(synthetic_image(3), cv2.COLOR_RGB2BGR))
    (d / 'notes.txt').write_text('not an image')
    return d


def test_image_file(infer, tiny_model_dir, image_dir, tmp_path, capsys):
    out = tmp_path / 'out'
    infer.main(['--model_dir', tiny_model_dir, '--image_file', str(image_dir / 'photo.jpg'),
                '--output_dir', str(out), '--threshold', '0.3'])
    text = capsys.readouterr().out
    assert 'photo.jpg: ' in text and 'detections >= 0.30' in text
    drawn = cv2.imread(str(out / 'photo.jpg'))
    assert drawn.shape == (160, 160, 3)
    original = cv2.imread(str(image_dir / 'photo.jpg'))
    assert np.abs(drawn.astype(int) - original).max() > 100   # boxes were drawn


def test_image_dir_with_onnx_batch_and_benchmark(infer, yolov3_model_dir, image_dir, tmp_path,
                                                 capsys):
    out = tmp_path / 'out'
    infer.main(['--model_dir', yolov3_model_dir, '--image_dir', str(image_dir),
                '--output_dir', str(out), '--run_mode', 'onnx', '--batch_size', '2',
                '--cpu_threads', '1', '--run_benchmark', '--warmup', '1', '--repeats', '2'])
    text = capsys.readouterr().out
    assert sorted(os.listdir(out)) == ['photo.jpg', 'shapes.png']
    for stage in ('preprocess', 'inference', 'postprocess'):
        assert stage in text
    assert 'inference    mean' in text and 'p50' in text and 'p90' in text and '(2 runs)' in text
    assert 'peak memory' in text and 'run_mode=onnx' in text


def test_video(infer, tiny_model_dir, tmp_path, capsys):
    video = str(tmp_path / 'clip.avi')
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*'MJPG'), 10, (128, 96))
    assert writer.isOpened()
    for i in range(5):
        writer.write(cv2.cvtColor(synthetic_image(i), cv2.COLOR_RGB2BGR))
    writer.release()
    out = tmp_path / 'out'
    infer.main(['--model_dir', tiny_model_dir, '--video_file', video, '--output_dir', str(out),
                '--batch_size', '2', '--enable_mkldnn', 'false', '--threshold', '0.3'])
    assert 'clip.avi: 5 frames' in capsys.readouterr().out
    written = [f for f in os.listdir(out) if f.startswith('clip.')]
    assert len(written) == 1
    cap = cv2.VideoCapture(str(out / written[0]))
    frames = 0
    while cap.read()[0]:
        frames += 1
    cap.release()
    assert frames == 5
    assert os.listdir(out) == written          # no temporary file left beside it
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(out / written[0]).st_mode & 0o777 == 0o666 & ~umask


def test_interrupted_video_leaves_no_partial_file(tiny_model_dir, tmp_path):
    """Ctrl-C while the video is written: the drawn video is written under a temporary name
    and removed, not left cut off under the final name (exit 130, no traceback)."""
    import signal
    import time
    video = str(tmp_path / 'clip.avi')
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*'MJPG'), 10, (128, 96))
    for i in range(20):
        writer.write(cv2.cvtColor(synthetic_image(i), cv2.COLOR_RGB2BGR))
    writer.release()
    out = tmp_path / 'out'
    proc = subprocess.Popen([sys.executable, SCRIPT, '--model_dir', tiny_model_dir,
                             '--video_file', video, '--output_dir', str(out),
                             '--repeats', '2000'],     # minutes: it is interrupted first
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS='1'),
                            # SIGINT's default restored: a shell that starts the suite in the
                            # background makes its children ignore it
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 120
        while not (out.is_dir() and os.listdir(out)) and time.time() < deadline:
            time.sleep(0.02)
        started = os.listdir(out)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert len(started) == 1 and started[0].startswith('.clip.'), started   # the temporary
    assert proc.returncode == 130 and err.strip() == 'interrupted', err[-2000:]
    assert os.listdir(out) == []


def test_help_describes_every_flag(infer):
    parser = infer.build_parser()
    undocumented = [a.option_strings[0] for a in parser._actions if not a.help]
    assert undocumented == []
    help_text = parser.format_help()
    assert 'not recursive' in help_text
    trt = [a for a in parser._actions if a.dest.startswith('trt_')]
    assert len(trt) == 4 and all('--device GPU' in a.help for a in trt)


@pytest.mark.skipif(paddle.is_compiled_with_cuda(), reason='GPU build of Paddle')
def test_the_suggested_gpu_command_runs(infer, tiny_model_dir, image_dir):
    """The TensorRT error's GPU_HOWTO command, pasted with its placeholders filled in, gets
    past infer.py's arguments (it lacked an input: 'give exactly one of --image_file ...')
    to the same refusal on this CPU build."""
    import shlex
    from ppdet.deploy import BackendUnavailable
    from ppdet.deploy.predictors import GPU_HOWTO
    command = shlex.split(GPU_HOWTO.format(run_mode='trt_fp16').split(', then run ')[1])
    assert command[:2] == ['python', 'deploy/python/infer.py']
    fill = {'DIR': tiny_model_dir, 'IMAGE': str(image_dir / 'photo.jpg')}
    with pytest.raises(BackendUnavailable, match='run_mode trt_fp16 needs a GPU build'):
        infer.main([fill.get(a, a) for a in command[2:]])


def test_argument_errors(infer, tiny_model_dir, tmp_path):
    with pytest.raises(SystemExit):
        infer.main(['--model_dir', tiny_model_dir])               # no input given
    with pytest.raises(FileNotFoundError, match='image not found'):
        infer.main(['--model_dir', tiny_model_dir, '--image_file', str(tmp_path / 'x.jpg')])
    with pytest.raises(ValueError, match='no images'):
        infer.main(['--model_dir', tiny_model_dir, '--image_dir', str(tmp_path)])


def test_tensorrt_on_a_cpu_build_exits_with_the_message(tiny_model_dir, image_dir):
    if paddle.is_compiled_with_cuda():
        pytest.skip('GPU build of Paddle')
    proc = subprocess.run([sys.executable, SCRIPT, '--model_dir', tiny_model_dir,
                           '--image_file', str(image_dir / 'photo.jpg'), '--device', 'GPU',
                           '--run_mode', 'trt_fp16'], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith('error: run_mode trt_fp16 needs a GPU build of Paddle with '
                                  'TensorRT (paddlepaddle-gpu + TensorRT libs); this Paddle '
                                  'build has no CUDA')
    assert 'Traceback' not in proc.stderr


def test_group_norm_flag_gives_the_same_detections(infer, group_norm_model_dir, image_dir,
                                                   tmp_path, capsys):
    texts = []
    for flag in ('true', 'false'):
        infer.main(['--model_dir', group_norm_model_dir, '--image_dir', str(image_dir),
                    '--output_dir', str(tmp_path / 'out'), '--threshold', '0.3',
                    '--onednn_group_norm', flag, '--run_benchmark', '--warmup', '1',
                    '--repeats', '2'])
        out = capsys.readouterr().out
        assert 'group_norm run as oneDNN ops: %s' % (flag == 'true') in out
        texts.append([line for line in out.splitlines() if 'detections' in line])
    assert texts[0] and texts[0] == texts[1]


def test_lite_run_of_an_int8_model_needs_lite_x86_int8(infer, tiny_model_dir, image_dir,
                                                        tmp_path, monkeypatch):
    """Refused with the flag named; with it, on to the (here missing) Lite environment."""
    from ppdet.deploy.lite import LiteEnvMissing, LiteError
    monkeypatch.setenv('LITE_ENV', str(tmp_path / 'no-lite-env'))
    argv = ['--model_dir', as_int8_model(tiny_model_dir, str(tmp_path / 'int8')),
            '--image_file', str(image_dir / 'photo.jpg'), '--run_mode', 'lite',
            '--output_dir', str(tmp_path / 'out')]
    with pytest.raises(LiteError, match='--lite_x86_int8'):
        infer.main(argv)
    with pytest.raises(LiteEnvMissing):
        infer.main(argv + ['--lite_x86_int8'])
