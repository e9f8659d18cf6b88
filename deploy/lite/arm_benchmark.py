"""On-device latency of a Paddle-Lite ARM .nb (ARM Linux board or Android/Termux), and its
detections for a check against another model's (an int8 .nb against its fp32 parent).

Self-contained: needs only Python 3, numpy and the paddlelite Python package built for
the device (no ppdet; cv2 only to read an image file).  Copy the .nb and the .json that
deploy/lite/convert.py --valid_targets arm writes beside it (how the model is fed: size,
fused uint8 input or the mean / std) and this file to the device, then:

    python3 arm_benchmark.py --model_file yolov3_arm.nb --threads 4 \
        --warmup 10 --repeats 100 [--image_file test.jpg | --image_npy test.npy] \
        [--save_detections int8.npz]

Prints mean / p50 / p90 / min latency in ms and the detections' count.  Whether an int8 .nb
computes on the device what its fp32 parent does (x86 Paddle-Lite cannot tell: its int8
convolutions are wrong, deploy/lite/README.md): run both .nb with --save_detections on the
same image, bring the two .npz back and run deploy/lite/compare_detections.py on them.
See deploy/lite/README.md for building paddlelite on the device and for the C++
benchmark_bin route on Android.
"""
import argparse
import importlib
import os
import platform
import subprocess
import sys
import tempfile
import time

ARM_MACHINES = ('aarch64', 'arm64', 'armv8l', 'armv7l')
HOWTO = ('copy the .nb and this script to the phone/board: scp model_arm.nb arm_benchmark.py '
         'user@board:~ (or adb push ... /data/local/tmp/), install numpy and a paddlelite '
         'wheel built for it (Paddle-Lite: ./lite/tools/build_linux.sh --arch=armv8 '
         '--with_python=ON --python_version=3.x), then run python3 arm_benchmark.py '
         '--model_file model_arm.nb; or use the C++ benchmark_bin (deploy/lite/README.md)')

# the way out for a model without NMS in its graph (its outputs are no detections)
NMS_FIX = ('export it without --exclude_nms (tools/export_model.py) and convert it again with '
           'deploy/lite/convert.py')


def fail(message):
    """The project's refusal: one line ``error: ...`` on stderr and exit code 2 (this
    script runs on the board without ppdet, so it has its own copy of the rule)."""
    sys.stderr.write('error: %s\n' % message)
    sys.exit(2)


def require_arm_device(any_machine=False):
    machine = platform.machine().lower()
    if machine not in ARM_MACHINES and not any_machine:
        fail('this runner needs an ARM device (aarch64) with paddlelite '
                         'installed; this machine is %s. %s' % (machine or 'unknown', HOWTO))


def require_paddlelite():
    machine = platform.machine().lower()
    try:
        importlib.import_module('paddlelite.lite')
    except ImportError:
        fail('paddlelite is not installed on this %s device; %s'
                         % (machine, HOWTO))


def check_number(flag, value, low):
    if value < low:
        fail('%s must be >= %d, got %d' % (flag, low, value))


def check_args(args):
    """Every flag the run depends on, before the model is loaded: a bad one otherwise
    aborts inside Paddle-Lite (batch 0, a missing .nb), or fails only after the timed run
    (--save_detections)."""
    check_number('--repeats', args.repeats, 1)
    check_number('--warmup', args.warmup, 0)
    check_number('--batch_size', args.batch_size, 1)
    check_number('--threads', args.threads, 1)
    if not os.path.isfile(args.model_file):
        fail('--model_file: %s %s; copy the .nb that deploy/lite/convert.py wrote to this '
             'device' % (args.model_file, 'is a directory' if os.path.isdir(args.model_file)
                         else 'not found'))
    if args.image_npy and args.image_file:
        fail('give one of --image_npy and --image_file, not both')
    for flag, path in (('--image_npy', args.image_npy), ('--image_file', args.image_file)):
        if path and not os.path.isfile(path):
            fail('%s: %s %s' % (flag, path, 'is a directory' if os.path.isdir(path)
                                else 'not found'))
    if args.image_file:
        try:
            importlib.import_module('cv2')
        except ImportError:
            fail('--image_file needs cv2 (OpenCV), which is not installed here: give the '
                 'image as an RGB uint8 .npy with --image_npy (numpy only; deploy/lite/'
                 'README.md shows the one-liner that makes it), or pip install '
                 'opencv-python-headless')
    if args.save_detections:
        args.save_detections = check_output_file(args.save_detections, '--save_detections')


def check_output_file(path, flag):
    """-> the .npz path that will be written (np.savez adds .npz to a name without it);
    refuses a directory, a folder above it that is a file, or one not writable, now rather
    than after the timed run.  Missing folders are made when it is written."""
    if not path.endswith('.npz'):
        path += '.npz'
    if os.path.isdir(path):
        fail('%s: %s is a directory; give a file name (e.g. %s)'
             % (flag, path, os.path.join(path, 'dets.npz')))
    found = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(found):
        found = os.path.dirname(found)
    if not os.path.isdir(found):
        fail('%s: %s is a file, not a directory (a folder of %s); give another path'
             % (flag, found, path))
    if not os.access(found, os.W_OK | os.X_OK):
        fail('%s: cannot write in %s (permission denied); give a writable path'
             % (flag, found))
    return path


def save_npz(path, np, **arrays):
    """np.savez through a temp file beside ``path``, renamed into place: an interrupted
    write never leaves a truncated .npz for compare_detections.py."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.' + os.path.basename(path) + '.',
                               suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            np.savez(f, **arrays)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)     # what a plain open() would give it
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def load_preprocess(args):
    """The .json convert.py wrote beside the .nb (``--preprocess``, default: the .nb's path
    with .json)."""
    import json
    path = args.preprocess or os.path.splitext(args.model_file)[0] + '.json'
    if not os.path.isfile(path):
        fail('%s not found: copy the .json that deploy/lite/convert.py '
                         'wrote beside the .nb (how the model is fed), or name it with '
                         '--preprocess' % path)
    try:
        with open(path) as f:
            pre = json.load(f)
    except ValueError as e:
        pre = 'unreadable (%s)' % e
    keys = ('inputs', 'height', 'width', 'interp', 'fused')
    if not isinstance(pre, dict) or any(k not in pre for k in keys):
        fail('%s is not the .json deploy/lite/convert.py writes beside the .nb (%s); copy '
             'that one' % (path, pre if isinstance(pre, str) else 'it needs %s'
                           % ', '.join(keys)))
    if pre.get('exclude_nms'):
        fail('%s says its model was exported with --exclude_nms (raw boxes and scores, no '
             'NMS): this runner needs detections (NMS inside); %s' % (path, NMS_FIX))
    return pre


# ARM Ltd's CPU part numbers (/proc/cpuinfo "CPU part" where "CPU implementer" is 0x41)
ARM_CORES = {'0xd03': 'Cortex-A53', '0xd04': 'Cortex-A35', '0xd05': 'Cortex-A55',
             '0xd07': 'Cortex-A57', '0xd08': 'Cortex-A72', '0xd09': 'Cortex-A73',
             '0xd0a': 'Cortex-A75', '0xd0b': 'Cortex-A76', '0xd0c': 'Neoverse-N1',
             '0xd0d': 'Cortex-A77', '0xd41': 'Cortex-A78', '0xd44': 'Cortex-X1',
             '0xd46': 'Cortex-A510', '0xd47': 'Cortex-A710', '0xd48': 'Cortex-X2',
             '0xd4d': 'Cortex-A715', '0xd4e': 'Cortex-X3'}


def _read_text(path):
    try:
        with open(path, 'rb') as f:
            return f.read().decode('utf-8', 'replace').replace('\x00', ' ').strip()
    except OSError:
        return ''


def _getprop(name):
    """An Android system property ('' elsewhere: no getprop there)."""
    try:
        out = subprocess.run(['getprop', name], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return ''
    return out.stdout.decode('utf-8', 'replace').strip()


def _cpu_cores(cpuinfo):
    """'4x Cortex-A55 + 4x Cortex-A76' from /proc/cpuinfo's per-core blocks: ARM's part
    numbers, else the block's "model name" (x86, some ARM kernels)."""
    cores = []
    for block in cpuinfo.split('\n\n'):
        fields = {}
        for line in block.splitlines():
            key, _, value = line.partition(':')
            fields.setdefault(key.strip().lower(), value.strip())
        if 'processor' not in fields:
            continue          # a board's Hardware / Revision / Model block
        impl, part = fields.get('cpu implementer'), fields.get('cpu part')
        if impl == '0x41' and part in ARM_CORES:
            cores.append(ARM_CORES[part])
        elif part:
            cores.append('implementer %s part %s' % (impl, part))
        elif fields.get('model name'):
            cores.append(fields['model name'])
    names = sorted(set(cores), key=cores.index)
    return ' + '.join('%dx %s' % (cores.count(n), n) for n in names)


def describe_device(root='/'):
    """What this board is, for the report (the README asks for the device and SoC with the
    times): the device tree's model (ARM Linux boards), Android's properties (product, SoC),
    /proc/cpuinfo's Hardware line (the SoC on older ARM kernels) and its cores; only what
    is there (no dependency)."""
    cpuinfo = _read_text(os.path.join(root, 'proc', 'cpuinfo'))
    info = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(':')
        if key.strip() in ('Hardware', 'Model') and value.strip():
            info.setdefault(key.strip(), value.strip())
    device = (_read_text(os.path.join(root, 'proc', 'device-tree', 'model'))
              or ' '.join(filter(None, (_getprop('ro.product.manufacturer'),
                                        _getprop('ro.product.model'))))
              or info.get('Model', ''))
    soc = (' '.join(filter(None, (_getprop('ro.soc.manufacturer'), _getprop('ro.soc.model'))))
           or _getprop('ro.board.platform') or info.get('Hardware', ''))
    cores = _cpu_cores(cpuinfo)
    parts = [device, 'SoC %s' % soc if soc else '', 'CPU %s' % cores if cores else '']
    return '; '.join(p for p in parts if p) or ('unknown (no /proc/device-tree/model, getprop '
                                                 'or /proc/cpuinfo here): name the device and '
                                                 'SoC yourself when you report the times')


def read_image(args, np):
    """RGB uint8 [H,W,3]: --image_npy, --image_file (cv2), or a fixed random image."""
    if args.image_npy:
        try:
            image = np.load(args.image_npy)
        except (OSError, ValueError) as e:
            fail('--image_npy: cannot read %s as a .npy array (%s); make it with numpy.save '
                 '(deploy/lite/README.md)' % (args.image_npy, e))
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            fail('--image_npy needs an RGB uint8 [H,W,3] array, got %s %s'
                             % (image.dtype, image.shape))
        return image
    if args.image_file:
        import cv2
        bgr = cv2.imread(args.image_file)
        if bgr is None:
            fail('cannot read %s' % args.image_file)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return np.random.RandomState(0).randint(0, 256, (480, 640, 3)).astype('uint8')


def resize(image, h, w, interp, np):
    """cv2.resize where cv2 is installed; else bilinear in numpy (not cv2's exact pixels:
    compare two models on the same saved input, --image_npy at the model's size)."""
    if image.shape[:2] == (h, w):
        return image
    try:
        import cv2
        return cv2.resize(image, (w, h), interpolation=interp)
    except ImportError:
        ys = (np.arange(h) + 0.5) * image.shape[0] / h - 0.5
        xs = (np.arange(w) + 0.5) * image.shape[1] / w - 0.5
        y0 = np.clip(np.floor(ys).astype(int), 0, image.shape[0] - 1)
        x0 = np.clip(np.floor(xs).astype(int), 0, image.shape[1] - 1)
        y1, x1 = np.minimum(y0 + 1, image.shape[0] - 1), np.minimum(x0 + 1, image.shape[1] - 1)
        wy = np.clip(ys - y0, 0, 1)[:, None, None]
        wx = np.clip(xs - x0, 0, 1)[None, :, None]
        im = image.astype('float32')
        top = im[y0][:, x0] * (1 - wx) + im[y0][:, x1] * wx
        bottom = im[y1][:, x0] * (1 - wx) + im[y1][:, x1] * wx
        return np.clip(top * (1 - wy) + bottom * wy + 0.5, 0, 255).astype('uint8')


def make_inputs(args, pre, np):
    """The model's feeds for one image, batch ``args.batch_size``, as the .json says: a fused
    export takes the resized uint8 [N,H,W,3]; another the normalised float32 [N,3,H,W]."""
    image = read_image(args, np)
    h, w = pre['height'], pre['width']
    oh, ow = image.shape[:2]
    resized = resize(image, h, w, pre['interp'], np)
    if pre['fused']:
        data = resized[None]
    else:
        x = resized.astype('float32')
        if pre['is_scale']:
            x /= 255.0
        x = (x - np.array(pre['mean'], 'float32')) / np.array(pre['std'], 'float32')
        data = x.transpose(2, 0, 1)[None]
    n = args.batch_size
    feeds = {'image': np.ascontiguousarray(np.repeat(data, n, axis=0)),
             'im_shape': np.array([[h, w]] * n, 'float32'),
             'scale_factor': np.array([[h / float(oh), w / float(ow)]] * n, 'float32')}
    return {name: feeds[name] for name in pre['inputs']}


def load(args):
    from paddlelite.lite import MobileConfig, PowerMode, create_paddle_predictor
    config = MobileConfig()
    config.set_model_from_file(args.model_file)
    if hasattr(config, 'set_threads'):
        config.set_threads(args.threads)
    if hasattr(config, 'set_power_mode'):
        config.set_power_mode(getattr(PowerMode, args.power_mode))
    return create_paddle_predictor(config)


def detections(predictor, args):
    """The run's outputs as bbox [M,6] and bbox_num [N]; other outputs (the raw boxes and
    scores of an --exclude_nms export, which the .json does not tell) are refused."""
    outs = [predictor.get_output(i).numpy() for i in range(len(predictor.get_output_names()))]
    if len(outs) != 2 or outs[0].ndim != 2 or outs[0].shape[1] != 6 or outs[1].ndim != 1:
        fail('%s outputs %s, not detections (bbox [M, 6]: class, score, x1, y1, x2, y2, and '
             'bbox_num [N]): a model exported with --exclude_nms gives raw boxes and scores '
             '(no NMS); %s' % (args.model_file, ' and '.join(
                 '%s %s' % (o.dtype, list(o.shape)) for o in outs) or 'nothing', NMS_FIX))
    return outs


def main(argv=None):
    p = argparse.ArgumentParser(description='Paddle-Lite ARM .nb latency on the device',
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--model_file', required=True, help='.nb from convert.py --valid_targets arm')
    p.add_argument('--preprocess', default=None,
                   help='the .json convert.py wrote beside the .nb (default: the .nb\'s path '
                        'with .json)')
    p.add_argument('--batch_size', type=int, default=1)
    p.add_argument('--threads', type=int, default=4)
    p.add_argument('--power_mode', default='LITE_POWER_HIGH',
                   choices=['LITE_POWER_HIGH', 'LITE_POWER_LOW', 'LITE_POWER_FULL',
                            'LITE_POWER_NO_BIND'])
    p.add_argument('--warmup', type=int, default=10)
    p.add_argument('--repeats', type=int, default=100)
    p.add_argument('--image_file', default=None,
                   help='a real image (needs cv2; without it use --image_npy)')
    p.add_argument('--image_npy', default=None,
                   help='an RGB uint8 [H,W,3] .npy (numpy only; at the model\'s size, two '
                        'models compared on it see the same pixels)')
    p.add_argument('--save_detections', default=None,
                   help='write the detections (bbox [M,6] rows class, score, x1, y1, x2, y2 in '
                        'the image\'s pixels; bbox_num) to this .npz (.npz added to a name '
                        'without it)')
    p.add_argument('--any_machine', action='store_true',
                   help='run where this is, not only on ARM: checks the runner itself on an '
                        'x86 .nb (x86 paddlelite); its times are not a phone\'s')
    args = p.parse_args(argv)
    require_arm_device(args.any_machine)
    check_args(args)
    pre = load_preprocess(args)
    require_paddlelite()
    import numpy as np
    inputs = make_inputs(args, pre, np)      # the image read before the model is loaded
    print('device: %s, %s' % (platform.machine(), describe_device()), flush=True)
    predictor = load(args)
    for name, arr in inputs.items():
        predictor.get_input_by_name(name).from_numpy(arr)
    for _ in range(args.warmup):
        predictor.run()
    if args.warmup:
        detections(predictor, args)      # a model with other outputs refused before the timing
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        predictor.run()
        times.append((time.perf_counter() - t0) * 1e3)
    t = np.array(times)
    bbox, num = detections(predictor, args)
    print('%s on %s, %d threads, %s, batch %d, input %dx%d: mean %.2f ms  p50 %.2f  p90 %.2f  '
          'min %.2f  (%d runs after %d warm-up); detections per image: %s'
          % (args.model_file, platform.machine(), args.threads, args.power_mode,
             args.batch_size, pre['height'], pre['width'], t.mean(),
             np.percentile(t, 50), np.percentile(t, 90), t.min(), args.repeats, args.warmup,
             num.tolist()))
    if args.save_detections:
        print('wrote %s' % save_npz(args.save_detections, np, bbox=bbox, bbox_num=num))


def run(argv=None):
    """main with Ctrl-C as the project's scripts end it: ``interrupted``, exit 130, no
    traceback (this file has no ppdet for ppdet.utils.cli.run_main)."""
    try:
        return main(argv)
    except KeyboardInterrupt:
        sys.stderr.write('\ninterrupted\n')
        sys.exit(130)


if __name__ == '__main__':
    sys.exit(run())
