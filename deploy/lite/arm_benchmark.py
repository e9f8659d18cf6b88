"""On-device latency of a Paddle-Lite ARM .nb (ARM Linux board or Android/Termux).

Self-contained: needs only Python 3, numpy and the paddlelite Python package built for
the device (no ppdet).  Copy the .nb from deploy/lite/convert.py --valid_targets arm and
this file to the device, then:

    python3 arm_benchmark.py --model_file yolov3_arm.nb --input_size 320 --threads 4 \
        --warmup 10 --repeats 100 [--image_file test.jpg]

Prints mean / p50 / p90 / min latency in ms and the detections' count.  See
deploy/lite/README.md for building paddlelite on the device and for the C++
benchmark_bin route on Android.
"""
import argparse
import platform
import sys
import time

ARM_MACHINES = ('aarch64', 'arm64', 'armv8l', 'armv7l')
HOWTO = ('copy the .nb and this script to the phone/board: scp model_arm.nb arm_benchmark.py '
         'user@board:~ (or adb push ... /data/local/tmp/), install numpy and a paddlelite '
         'wheel built for it (Paddle-Lite: ./lite/tools/build_linux.sh --arch=armv8 '
         '--with_python=ON --python_version=3.x), then run python3 arm_benchmark.py '
         '--model_file model_arm.nb; or use the C++ benchmark_bin (deploy/lite/README.md)')


def require_arm_device():
    machine = platform.machine().lower()
    if machine not in ARM_MACHINES:
        raise SystemExit('error: this runner needs an ARM device (aarch64) with paddlelite '
                         'installed; this machine is %s. %s' % (machine or 'unknown', HOWTO))
    try:
        import paddlelite.lite  # noqa: F401
    except ImportError:
        raise SystemExit('error: paddlelite is not installed on this %s device; %s'
                         % (machine, HOWTO))


def size_arg(v):
    parts = [int(x) for x in v.split(',')]
    return parts * 2 if len(parts) == 1 else parts


def make_inputs(args, np):
    h, w = args.input_size
    if args.image_file:
        import cv2
        bgr = cv2.imread(args.image_file)
        if bgr is None:
            raise SystemExit('error: cannot read %s' % args.image_file)
        oh, ow = bgr.shape[:2]
        rgb = cv2.cvtColor(cv2.resize(bgr, (w, h), interpolation=cv2.INTER_CUBIC),
                           cv2.COLOR_BGR2RGB).astype('float32') / 255.0
        mean = np.array([0.485, 0.456, 0.406], 'float32')
        std = np.array([0.229, 0.224, 0.225], 'float32')
        image = ((rgb - mean) / std).transpose(2, 0, 1)[None]
        scale = [h / float(oh), w / float(ow)]
    else:
        image = np.random.RandomState(0).rand(1, 3, h, w).astype('float32')
        scale = [1.0, 1.0]
    n = args.batch_size
    return {'image': np.ascontiguousarray(np.repeat(image, n, axis=0)),
            'im_shape': np.array([[h, w]] * n, 'float32'),
            'scale_factor': np.array([scale] * n, 'float32')}


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
    p.add_argument('--input_size', type=size_arg, default=[320, 320],
                   help='H or H,W of the exported model')
    p.add_argument('--batch_size', type=int, default=1)
    p.add_argument('--threads', type=int, default=4)
    p.add_argument('--power_mode', default='LITE_POWER_HIGH',
                   choices=['LITE_POWER_HIGH', 'LITE_POWER_LOW', 'LITE_POWER_FULL',
                            'LITE_POWER_NO_BIND'])
    p.add_argument('--warmup', type=int, default=10)
    p.add_argument('--repeats', type=int, default=100)
    p.add_argument('--image_file', default=None, help='optional real image (needs cv2)')
    args = p.parse_args(argv)
    require_arm_device()
    import numpy as np
    predictor = load(args)
    inputs = make_inputs(args, np)
    for name, arr in inputs.items():
        predictor.get_input_by_name(name).from_numpy(arr)
    for _ in range(args.warmup):
        predictor.run()
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        predictor.run()
        times.append((time.perf_counter() - t0) * 1e3)
    t = np.array(times)
    num = predictor.get_output(1).numpy()
    print('%s on %s, %d threads, %s, batch %d, input %dx%d: mean %.2f ms  p50 %.2f  p90 %.2f  '
          'min %.2f  (%d runs after %d warm-up); detections per image: %s'
          % (args.model_file, platform.machine(), args.threads, args.power_mode,
             args.batch_size, args.input_size[0], args.input_size[1], t.mean(),
             np.percentile(t, 50), np.percentile(t, 90), t.min(), args.repeats, args.warmup,
             num.tolist()))


if __name__ == '__main__':
    sys.exit(main())
