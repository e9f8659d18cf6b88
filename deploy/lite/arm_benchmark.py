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
import os
import platform
import sys
import time

ARM_MACHINES = ('aarch64', 'arm64', 'armv8l', 'armv7l')
HOWTO = ('copy the .nb and this script to the phone/board: scp model_arm.nb arm_benchmark.py '
         'user@board:~ (or adb push ... /data/local/tmp/), install numpy and a paddlelite '
         'wheel built for it (Paddle-Lite: ./lite/tools/build_linux.sh --arch=armv8 '
         '--with_python=ON --python_version=3.x), then run python3 arm_benchmark.py '
         '--model_file model_arm.nb; or use the C++ benchmark_bin (deploy/lite/README.md)')


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
        import paddlelite.lite  # noqa: F401
    except ImportError:
        fail('paddlelite is not installed on this %s device; %s'
                         % (machine, HOWTO))


def load_preprocess(args):
    """The .json convert.py wrote beside the .nb (``--preprocess``, default: the .nb's path
    with .json)."""
    import json
    path = args.preprocess or os.path.splitext(args.model_file)[0] + '.json'
    if not os.path.isfile(path):
        fail('%s not found: copy the .json that deploy/lite/convert.py '
                         'wrote beside the .nb (how the model is fed), or name it with '
                         '--preprocess' % path)
    with open(path) as f:
        return json.load(f)


def read_image(args, np):
    """RGB uint8 [H,W,3]: --image_npy, --image_file (cv2), or a fixed random image."""
    if args.image_npy:
        image = np.load(args.image_npy)
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
    p.add_argument('--image_file', default=None, help='a real image (needs cv2)')
    p.add_argument('--image_npy', default=None,
                   help='an RGB uint8 [H,W,3] .npy (numpy only; at the model\'s size, two '
                        'models compared on it see the same pixels)')
    p.add_argument('--save_detections', default=None,
                   help='write the detections (bbox [M,6] rows class, score, x1, y1, x2, y2 in '
                        'the image\'s pixels; bbox_num) to this .npz')
    p.add_argument('--any_machine', action='store_true',
                   help='run where this is, not only on ARM: checks the runner itself on an '
                        'x86 .nb (x86 paddlelite); its times are not a phone\'s')
    args = p.parse_args(argv)
    require_arm_device(args.any_machine)
    pre = load_preprocess(args)
    require_paddlelite()
    import numpy as np
    predictor = load(args)
    for name, arr in make_inputs(args, pre, np).items():
        predictor.get_input_by_name(name).from_numpy(arr)
    for _ in range(args.warmup):
        predictor.run()
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        predictor.run()
        times.append((time.perf_counter() - t0) * 1e3)
    t = np.array(times)
    bbox, num = predictor.get_output(0).numpy(), predictor.get_output(1).numpy()
    print('%s on %s, %d threads, %s, batch %d, input %dx%d: mean %.2f ms  p50 %.2f  p90 %.2f  '
          'min %.2f  (%d runs after %d warm-up); detections per image: %s'
          % (args.model_file, platform.machine(), args.threads, args.power_mode,
             args.batch_size, pre['height'], pre['width'], t.mean(),
             np.percentile(t, 50), np.percentile(t, 90), t.min(), args.repeats, args.warmup,
             num.tolist()))
    if args.save_detections:
        np.savez(args.save_detections, bbox=bbox, bbox_num=num)
        print('wrote %s' % args.save_detections)


if __name__ == '__main__':
    sys.exit(main())
