"""The on-device ARM runner: it stops with instructions anywhere else, feeds a model as the
.json convert.py writes says, and (run on an x86 .nb in the Lite chroot) gives Paddle
Inference's detections; compare_detections.py matches two runs' saved detections."""
import os
import platform
import re
import select
import shutil
import signal
import subprocess
import sys
import time

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


# -- bad input to the on-device runner and to compare_detections.py ------------------------
@pytest.fixture(scope='module')
def tiny_x86_nb(tiny_model_dir, lite_env, tmp_path_factory):
    """The tiny model's x86 .nb and its .json: what arm_benchmark.py runs in the chroot."""
    nb = lite.optimize(tiny_model_dir, 'x86', str(tmp_path_factory.mktemp('tiny_nb') / 'm'))
    lite.write_device_preprocess(tiny_model_dir, nb)
    return nb


def _runner_in_chroot(lite_env, nb, args, scratch, **popen):
    """arm_benchmark.py run as on a board (the Lite chroot: numpy and paddlelite, no ppdet,
    no cv2) on ``nb`` copied into ``scratch`` with its .json; ``args`` name files in it
    relative to it (the command runs there)."""
    for src in (SCRIPT, nb, os.path.splitext(nb)[0] + '.json'):
        shutil.copy(src, scratch.host)
    argv = lite._chroot(lite_env, ['/bin/sh', '-c', 'cd %s && exec %s "$@"' % (
        scratch.inner, lite.LITE_PY), 'sh', 'arm_benchmark.py', '--model_file', 'm.nb',
        '--any_machine'] + list(args))
    if popen:
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, **popen)
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize('flags,message', [
    # these used to end in IndexError (np.percentile of nothing), a Paddle-Lite abort
    # (rc 134, "Check failed: size"), or a run reporting "0 threads ... after -5 warm-up"
    (['--repeats', '0'], '--repeats must be >= 1, got 0'),
    (['--batch_size', '0'], '--batch_size must be >= 1, got 0'),
    (['--warmup', '-5'], '--warmup must be >= 0, got -5'),
    (['--threads', '0'], '--threads must be >= 1, got 0'),
    # a native abort "Unable to open file" once the .json was found
    (['--model_file', 'gone.nb', '--preprocess', 'm.json'],
     '--model_file: gone.nb not found; copy the .nb that deploy/lite/convert.py wrote'),
    # FileNotFoundError / "pickled data" tracebacks
    (['--image_npy', 'none.npy'], '--image_npy: none.npy not found'),
    (['--image_npy', 'm.json'], '--image_npy: cannot read m.json as a .npy array'),
    # ModuleNotFoundError: cv2 (the chroot, like a board, has none)
    (['--image_file', 'm.json'], '--image_file needs cv2 (OpenCV), which is not installed '
                                 'here: give the image as an RGB uint8 .npy with --image_npy'),
    # a FileNotFoundError after the whole timed run
    (['--save_detections', 'm.nb/dets.npz'], '--save_detections: /tmp/'),
])
def test_runner_refuses_bad_input_before_loading_the_model(flags, message, lite_env,
                                                           tiny_x86_nb):
    with lite._Scratch(lite_env) as scratch:
        proc = _runner_in_chroot(lite_env, tiny_x86_nb, flags, scratch)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.rstrip().splitlines() == [proc.stderr.rstrip()], proc.stderr
    assert proc.stderr.startswith('error: ' + message), proc.stderr
    assert 'device:' not in proc.stdout        # refused before the model loaded
    if flags[0] == '--save_detections':
        assert '/m.nb is a file, not a directory (a folder of m.nb/dets.npz)' in proc.stderr


def test_runner_saves_detections_atomically_where_it_says(lite_env, tiny_x86_nb):
    """--save_detections into a folder not made yet and without .npz: the folder is made
    and the file np.savez names (dets.npz) is printed (it printed "wrote dets"); an old
    file is replaced by a rename, not rewritten in place (a reader never sees half of it)."""
    with lite._Scratch(lite_env) as scratch:
        out_dir = os.path.join(scratch.host, 'out')
        proc = _runner_in_chroot(lite_env, tiny_x86_nb, [
            '--warmup', '0', '--repeats', '1', '--save_detections', 'out/dets'], scratch)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.rstrip().splitlines()[-1] == 'wrote out/dets.npz'
        assert re.match(r'device: x86_64, \S', proc.stdout)
        assert os.listdir(out_dir) == ['dets.npz']
        old_inode = os.stat(os.path.join(out_dir, 'dets.npz')).st_ino
        with open(os.path.join(out_dir, 'dets.npz'), 'rb') as held:   # a reader of the old
            proc = _runner_in_chroot(lite_env, tiny_x86_nb, [
                '--warmup', '0', '--repeats', '1', '--save_detections', 'out/dets.npz'],
                scratch)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            assert os.stat(os.path.join(out_dir, 'dets.npz')).st_ino != old_inode
            with np.load(held) as f:                         # still the whole old file
                assert f['bbox'].shape[1] == 6
        assert os.listdir(out_dir) == ['dets.npz']           # no temp file left
        with np.load(os.path.join(out_dir, 'dets.npz')) as f:
            assert int(f['bbox_num'][0]) == len(f['bbox']) > 0


def test_runner_ctrl_c_says_interrupted(lite_env, tiny_x86_nb):
    """Ctrl-C in the timed loop: ``interrupted``, exit 130, no KeyboardInterrupt traceback."""
    with lite._Scratch(lite_env) as scratch:
        proc = _runner_in_chroot(lite_env, tiny_x86_nb, ['--repeats', '1000000000'], scratch,
                                 preexec_fn=lambda: signal.signal(signal.SIGINT,
                                                                  signal.SIG_DFL))
        try:
            # the header is printed before the model loads; the run goes on far longer
            ready, _, _ = select.select([proc.stdout], [], [], 60)
            line = proc.stdout.readline() if ready else ''
            assert line.startswith('device: '), line
            time.sleep(1.0)                           # loaded, in the warm-up or the runs
            assert proc.poll() is None, proc.stderr.read()
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 130 and 'Traceback' not in err, err
    assert err.strip() == 'interrupted'


def _load_runner_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location('arm_benchmark', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# a Raspberry Pi 4's /proc/cpuinfo (64-bit kernel: one block per core, the board's last)
RPI4_CPUINFO = ''.join(
    'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n'
    'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\n'
    'CPU revision\t: 3\n\n' % i for i in range(4)) + (
    'Hardware\t: BCM2835\nRevision\t: c03114\nSerial\t\t: 10000000abcdef01\n'
    'Model\t\t: Raspberry Pi 4 Model B Rev 1.4\n')
# a big.LITTLE phone SoC's (no Hardware line on recent arm64 kernels)
BIG_LITTLE_CPUINFO = ''.join(
    'processor\t: %d\nBogoMIPS\t: 38.40\nCPU implementer\t: 0x41\nCPU architecture: 8\n'
    'CPU variant\t: 0x1\nCPU part\t: %s\nCPU revision\t: 0\n\n'
    % (i, '0xd05' if i < 4 else '0xd0b') for i in range(8))


def test_runner_says_what_the_board_is(tmp_path, monkeypatch):
    """The header names the device and SoC the README asks reports to give, from what the
    board has: the device tree's model, /proc/cpuinfo (SoC line, core types), Android's
    getprop; it printed only platform.machine()."""
    runner = _load_runner_module()
    monkeypatch.setenv('PATH', str(tmp_path / 'bin'))           # no getprop: not Android
    rpi = tmp_path / 'rpi'
    (rpi / 'proc' / 'device-tree').mkdir(parents=True)
    (rpi / 'proc' / 'cpuinfo').write_text(RPI4_CPUINFO)
    (rpi / 'proc' / 'device-tree' / 'model').write_bytes(b'Raspberry Pi 4 Model B Rev 1.4\x00')
    assert runner.describe_device(str(rpi)) == ('Raspberry Pi 4 Model B Rev 1.4; SoC BCM2835; '
                                                 'CPU 4x Cortex-A72')
    phone = tmp_path / 'phone'
    (phone / 'proc').mkdir(parents=True)
    (phone / 'proc' / 'cpuinfo').write_text(BIG_LITTLE_CPUINFO)
    assert runner.describe_device(str(phone)) == 'CPU 4x Cortex-A55 + 4x Cortex-A76'
    assert runner.describe_device(str(tmp_path / 'nothing')).startswith(
        'unknown (no /proc/device-tree/model, getprop or /proc/cpuinfo here)')
    (tmp_path / 'bin').mkdir()      # Android: getprop names the product and the SoC
    getprop = tmp_path / 'bin' / 'getprop'
    getprop.write_text('#!/bin/sh\ncase "$1" in\n  ro.product.manufacturer) echo Xiaomi;;\n'
                       '  ro.product.model) echo "Redmi Note 8";;\n'
                       '  ro.soc.manufacturer) echo Qualcomm;;\n  ro.soc.model) echo SM6125;;\n'
                       '  *) echo;;\nesac\n')
    getprop.chmod(0o755)
    assert runner.describe_device(str(phone)) == ('Xiaomi Redmi Note 8; SoC Qualcomm SM6125; '
                                                   'CPU 4x Cortex-A55 + 4x Cortex-A76')
    with open('/proc/cpuinfo') as f:                # this machine, as it is
        model = next((l.split(':', 1)[1].strip() for l in f if l.startswith('model name')),
                     None)
    if model:
        assert 'x %s' % model in runner.describe_device()


def _compare(*args):
    proc = _run(COMPARE, *[str(a) for a in args])
    return proc, proc.stderr.rstrip()


def test_compare_detections_with_nothing_to_compare(tmp_path):
    """No detection at the threshold in either file: "nothing compared" and an error, not
    "agreement: 0 of 0 detections (100.0%)" with "mean IoU 1.000" and exit 0."""
    rows = np.array([[0, 0.9, 0, 0, 10, 10], [1, 0.8, 5, 5, 20, 20]], np.float32)
    np.savez(tmp_path / 'a.npz', bbox=rows, bbox_num=np.array([2], np.int32))
    proc, err = _compare(tmp_path / 'a.npz', tmp_path / 'a.npz', '--score_threshold', '0.95')
    assert proc.returncode == 2 and 'Traceback' not in err, err
    assert 'image 0: nothing compared (no detection scoring >= 0.95 in either)' in proc.stdout
    assert err.startswith('error: nothing compared: neither %s nor %s has a detection scoring '
                          '>= 0.95; lower --score_threshold' % (tmp_path / 'a.npz',
                                                                tmp_path / 'a.npz'))
    assert 'agreement' not in proc.stdout and '100.0%' not in proc.stdout
    assert 'IoU 1.000' not in proc.stdout


def test_compare_detections_refuses_bad_input(tmp_path):
    good = tmp_path / 'good.npz'
    np.savez(good, bbox=np.array([[0, 0.9, 0, 0, 10, 10]], np.float32),
             bbox_num=np.array([1], np.int32))
    for threshold in ('5', '-1'):        # 5 compared nothing and said 100%; -1 was taken
        proc, err = _compare(good, good, '--score_threshold', threshold)
        assert proc.returncode == 2 and err == (
            'error: --score_threshold must be in [0.0, 1.0], got %r (a detection score)'
            % float(threshold)), err
    writer = ('give the .npz that arm_benchmark.py --save_detections writes (on the board; for '
              'an x86 .nb: arm_benchmark.py --any_machine in the Lite environment)')
    np.savez(tmp_path / 'other.npz', boxes=np.zeros((1, 6), np.float32))   # KeyError: 'bbox'
    cv2.imwrite(str(tmp_path / 'photo.jpg'), np.zeros((8, 8, 3), np.uint8))  # "pickled data"
    np.save(tmp_path / 'one.npy', np.zeros(6, np.float32))
    for args, message in [
            ((tmp_path / 'other.npz', good),
             "detections: %s has no 'bbox' and 'bbox_num' (it has: boxes); %s"
             % (tmp_path / 'other.npz', writer)),
            ((good, tmp_path / 'photo.jpg'),
             'reference: %s is not an .npz of detections (not a numpy file); %s'
             % (tmp_path / 'photo.jpg', writer)),
            ((good, tmp_path / 'one.npy'),
             'reference: %s holds one array, not an .npz of detections; %s'
             % (tmp_path / 'one.npy', writer)),
            ((tmp_path / 'gone.npz', good),                  # "[Errno 2] ..." named no argument
             'detections: %s not found; %s' % (tmp_path / 'gone.npz', writer))]:
        proc, err = _compare(*args)
        assert proc.returncode == 2 and err == 'error: ' + message, err


# -- an export with --exclude_nms (raw boxes and scores, no NMS): no detections to time --------
CONVERT = os.path.join(ROOT, 'deploy', 'lite', 'convert.py')
NO_NMS = ('a model exported with --exclude_nms gives raw boxes and scores (no NMS); export it '
          'without --exclude_nms (tools/export_model.py) and convert it again with '
          'deploy/lite/convert.py')


@pytest.fixture(scope='module')
def exclude_nms_export(tmp_path_factory):
    """MediaPipe's BlazeFace (its committed weights) exported by the tools with --exclude_nms."""
    out = tmp_path_factory.mktemp('exclude_nms')
    weights = str(out / 'w' / 'model_final')
    for tool, args in (('import_mediapipe_blazeface.py', ['--output', weights]),
                       ('export_model.py', ['-o', 'weights=' + weights, '--output_dir',
                                            str(out / 'inference'), '--exclude_nms'])):
        proc = _run(os.path.join(ROOT, 'tools', tool), '-c', os.path.join(
            ROOT, 'configs', 'face_detection', 'mediapipe_blazeface_builtin.yml'), *args)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return str(out / 'inference' / 'mediapipe_blazeface_builtin')


def test_convert_refuses_an_exclude_nms_export(exclude_nms_export, tmp_path):
    """It wrote the .nb and its .json without a word, and arm_benchmark.py then printed 896
    raw scores as "detections per image" and saved the raw outputs as bbox / bbox_num.  Now
    refused first, before the Lite environment is looked for; --nb_only (the .nb alone, for
    benchmark_bin) gets past it (to the missing environment here)."""
    env = dict(os.environ, LITE_ENV=str(tmp_path / 'no-lite-env'))
    out = tmp_path / 'out'
    proc = subprocess.run([sys.executable, CONVERT, '--model_dir', exclude_nms_export,
                           '--valid_targets', 'x86', '--optimize_out', str(out / 'm')],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert proc.returncode == 2 and proc.stdout == '', proc.stdout + proc.stderr
    assert proc.stderr.rstrip() == (
        'error: %s was exported with exclude_nms (raw boxes/scores, no NMS): the phone runner '
        '(deploy/lite/arm_benchmark.py) needs NMS inside; export without --exclude_nms, or '
        "convert with --nb_only (the .nb alone, for Paddle-Lite's C++ benchmark_bin)"
        % exclude_nms_export)
    assert not out.exists()
    proc = subprocess.run([sys.executable, CONVERT, '--model_dir', exclude_nms_export,
                           '--nb_only', '--optimize_out', str(out / 'm')],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert proc.stderr.startswith('error: the Paddle-Lite environment is not built at '), \
        proc.stderr


@pytest.fixture(scope='module')
def exclude_nms_x86_nb(exclude_nms_export, lite_env, tmp_path_factory):
    """What convert.py wrote for that export before it refused one: its x86 .nb and .json."""
    nb = lite.optimize(exclude_nms_export, 'x86', str(tmp_path_factory.mktemp('raw_nb') / 'm'))
    lite.write_device_preprocess(exclude_nms_export, nb)
    return nb


@pytest.mark.parametrize('flags', [['--warmup', '1'],
                                   ['--warmup', '0', '--save_detections', 'dets.npz']])
def test_runner_refuses_a_model_without_nms(flags, lite_env, exclude_nms_x86_nb):
    """Its raw outputs were timed and printed as "detections per image" (896 scores), saved
    as bbox [1, 896, 4] / bbox_num [1, 1, 896], exit 0.  The .json does not say how the model
    was exported, so the outputs are checked: after the warm-up (before the timing), else
    before anything is printed or saved."""
    with lite._Scratch(lite_env) as scratch:
        proc = _runner_in_chroot(lite_env, exclude_nms_x86_nb, flags + ['--repeats', '1'],
                                 scratch)
        saved = os.listdir(scratch.host)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.rstrip() == ('error: m.nb outputs float32 [1, 896, 4] and float32 '
                                    '[1, 1, 896], not detections (bbox [M, 6]: class, score, '
                                    'x1, y1, x2, y2, and bbox_num [N]): ' + NO_NMS), proc.stderr
    assert 'detections per image' not in proc.stdout and 'dets.npz' not in saved


def test_runner_refuses_a_json_saying_exclude_nms(lite_env, tiny_x86_nb, tmp_path):
    """A .json that records exclude_nms is refused before the model loads."""
    import json
    shutil.copy(tiny_x86_nb, str(tmp_path / 'm.nb'))
    with open(os.path.splitext(tiny_x86_nb)[0] + '.json') as f:
        pre = dict(json.load(f), exclude_nms=True)
    with open(str(tmp_path / 'm.json'), 'w') as f:
        json.dump(pre, f)
    with lite._Scratch(lite_env) as scratch:
        proc = _runner_in_chroot(lite_env, str(tmp_path / 'm.nb'), [], scratch)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.rstrip() == (
        'error: m.json says its model was exported with --exclude_nms (raw boxes and scores, '
        'no NMS): this runner needs detections (NMS inside); export it without --exclude_nms '
        '(tools/export_model.py) and convert it again with deploy/lite/convert.py')
    assert 'device:' not in proc.stdout


def test_compare_detections_refuses_raw_outputs(tmp_path):
    """An .npz of the raw outputs (what arm_benchmark.py saved for an --exclude_nms export)
    failed with numpy's "cannot reshape array of size 3584 into shape (6)"."""
    good = tmp_path / 'good.npz'
    np.savez(good, bbox=np.array([[0, 0.9, 0, 0, 10, 10]], np.float32),
             bbox_num=np.array([1], np.int32))
    raw = tmp_path / 'raw.npz'
    np.savez(raw, bbox=np.zeros((1, 896, 4), np.float32),
             bbox_num=np.zeros((1, 1, 896), np.float32))
    proc, err = _compare(good, raw)
    assert proc.returncode == 2 and err == (
        'error: reference: %s does not hold [N, 6] detections (class, score, x1, y1, x2, y2) '
        'and their count per image: its bbox is float32 [1, 896, 4], its bbox_num float32 '
        '[1, 1, 896] (raw outputs, e.g. the boxes and scores of a model exported with '
        '--exclude_nms: no NMS); give the .npz that arm_benchmark.py --save_detections writes '
        '(on the board; for an x86 .nb: arm_benchmark.py --any_machine in the Lite '
        'environment)' % raw), err
