"""Run an exported detector on images, a directory or a video and save the drawings.

    python deploy/python/infer.py --model_dir output/inference/yolov3_mobilenet_v1 \
        --image_file demo.jpg [--run_mode paddle|trt_fp32|trt_fp16|trt_int8|onnx|lite] \
        [--device CPU|GPU] [--cpu_threads 2] [--enable_mkldnn true] [--run_benchmark]
        [--enable_mkldnn_bfloat16]    # fp32 model in bf16 on a CPU with AVX512-BF16 / AMX

--run_benchmark warms up with 10 untimed passes, then times 50 passes of the whole pipeline
per batch and prints the preprocess / inference / postprocess split of the end-to-end time
(PaddleDetection's infer.py warms up with 50 inference runs and times 10; here every stage
is repeated, so the split's means add up to the end-to-end mean).
"""
import argparse
import os

from ppdet.utils.cli import check_range, str2bool
from ppdet.utils.fileio import check_output_dir
from ppdet.utils.image_files import collect_images


def shape_arg(v):
    """'640' or '640,480' (h,w) for the TensorRT dynamic-shape flags."""
    parts = [int(p) for p in v.replace('x', ',').split(',')]
    return parts[0] if len(parts) == 1 else parts


def build_parser():
    from ppdet.deploy.predictors import RUN_MODES
    p = argparse.ArgumentParser(description='run an exported detector',
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--model_dir', required=True,
                   help='exported model: model.pdmodel, model.pdiparams, infer_cfg.yml')
    p.add_argument('--image_file', default=None)
    p.add_argument('--image_dir', default=None)
    p.add_argument('--video_file', default=None)
    p.add_argument('--run_mode', default='paddle', choices=RUN_MODES)
    p.add_argument('--device', default='CPU', type=str.upper, choices=['CPU', 'GPU'])
    p.add_argument('--cpu_threads', type=int, default=1)
    p.add_argument('--enable_mkldnn', type=str2bool, nargs='?', const=True, default=True,
                   help='oneDNN on the CPU (paddle run mode)')
    p.add_argument('--enable_mkldnn_int8', type=str2bool, nargs='?', const=True, default=None,
                   help='oneDNN int8 kernels; default: on for quantized exports')
    p.add_argument('--enable_mkldnn_bfloat16', type=str2bool, nargs='?', const=True,
                   default=False, help='run an fp32 model\'s oneDNN ops in bf16 (a CPU with '
                                       'AVX512-BF16 or AMX-BF16; refused elsewhere)')
    p.add_argument('--onednn_group_norm', type=str2bool, nargs='?', const=True, default=True,
                   help='with oneDNN, run GroupNorm as oneDNN ops (Paddle has no oneDNN '
                        'group_norm kernel); false: Paddle\'s own kernel')
    p.add_argument('--lite_x86_int8', type=str2bool, nargs='?', const=True, default=False,
                   help='--run_mode lite: run an int8 model\'s x86 .nb anyway (refused by default: '
                        'Paddle-Lite\'s x86 int8 convs do not compute it; see deploy/lite/README.md)')
    p.add_argument('--batch_size', type=int, default=1)
    p.add_argument('--threshold', type=float, default=None,
                   help='drawing/printing score threshold; default: draw_threshold of infer_cfg.yml')
    p.add_argument('--output_dir', default='output')
    p.add_argument('--run_benchmark', type=str2bool, nargs='?', const=True, default=False,
                   help='print preprocess/inference/postprocess times and peak memory')
    p.add_argument('--warmup', type=int, default=10,
                   help='untimed runs of the whole pipeline first (--run_benchmark)')
    p.add_argument('--repeats', type=int, default=None,
                   help='timed runs of the whole pipeline (preprocess, inference, postprocess) '
                        'per batch; default 50 with --run_benchmark, else 1')
    p.add_argument('--trt_min_shape', type=shape_arg, default=1)
    p.add_argument('--trt_max_shape', type=shape_arg, default=1280)
    p.add_argument('--trt_opt_shape', type=shape_arg, default=640)
    p.add_argument('--trt_calib_mode', type=str2bool, nargs='?', const=True, default=False,
                   help='calibrate an fp32 model for trt_int8')
    return p


def batches(items, size):
    for i in range(0, len(items), max(1, size)):
        yield items[i:i + size]


def decodable(paths):
    """-> [(path, RGB image)] of the files that decode; the others are named and skipped."""
    from ppdet.deploy import decode_image
    from ppdet.utils.image_io import ImageDecodeError
    out = []
    for p in paths:
        try:
            out.append((p, decode_image(p)))
        except ImageDecodeError as e:
            print('%s: skipped, %s' % (p, e))
    return out


def run_images(det, paths, args, threshold):
    from ppdet.utils.image_io import ImageDecodeError
    from ppdet.utils.visualizer import draw_boxes, save_result_image
    done = 0
    for chunk in batches(paths, args.batch_size):
        pairs = decodable(chunk)
        if not pairs:
            continue
        done += len(pairs)
        chunk, images = [p for p, _ in pairs], [im for _, im in pairs]
        for path, im, rows in zip(chunk, images, det.predict(images, args.repeats)):
            out = save_result_image(os.path.join(args.output_dir, os.path.basename(path)),
                                    draw_boxes(im, rows, det.labels, threshold))
            keep = rows[rows[:, 1] >= threshold]
            print('%s: %d detections >= %.2f -> %s' % (path, len(keep), threshold, out))
            for r in keep:
                name = det.labels[int(r[0])] if 0 <= int(r[0]) < len(det.labels) else int(r[0])
                print('  %s %.3f [%.1f, %.1f, %.1f, %.1f]' % ((name, r[1]) + tuple(r[2:6])))
    if not done:
        raise ImageDecodeError('none of the %d image(s) can be decoded (see above)' % len(paths))


def open_writer(path_stem, fps, size):
    import cv2
    for ext, fourcc in (('.mp4', 'mp4v'), ('.avi', 'MJPG')):
        writer = cv2.VideoWriter(path_stem + ext, cv2.VideoWriter_fourcc(*fourcc), fps, size)
        if writer.isOpened():
            return writer, path_stem + ext
        writer.release()
    raise ValueError('OpenCV cannot write a video to %s (.mp4/mp4v or .avi/MJPG)' % path_stem)


def run_video(det, args, threshold):
    import cv2
    from ppdet.utils.visualizer import draw_boxes
    cap = cv2.VideoCapture(args.video_file)
    if not os.path.isfile(args.video_file) or not cap.isOpened():
        raise FileNotFoundError('cannot open video %s' % args.video_file)
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    os.makedirs(args.output_dir, exist_ok=True)
    stem = os.path.join(args.output_dir, os.path.splitext(os.path.basename(args.video_file))[0])
    writer, out_path = open_writer(stem, fps, size)
    frames, total = [], [0, 0]

    def flush():
        for im, rows in zip(frames, det.predict(frames, args.repeats)):
            writer.write(cv2.cvtColor(draw_boxes(im, rows, det.labels, threshold),
                                      cv2.COLOR_RGB2BGR))
            total[0] += 1
            total[1] += int((rows[:, 1] >= threshold).sum())
        frames.clear()

    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            if len(frames) == args.batch_size:
                flush()
        if frames:
            flush()
    finally:
        cap.release()
        writer.release()
    print('%s: %d frames, %d detections >= %.2f -> %s'
          % (args.video_file, total[0], total[1], threshold, out_path))


def warm_up(det, args):
    """Untimed passes of the whole pipeline on a dummy batch of the model's input size."""
    import numpy as np
    c, h, w = det.infer_cfg.get('image_shape') or [3, None, None]
    dummy = np.full((h or 320, w or 320, 3), 127, np.uint8)
    det.warm_up([dummy] * args.batch_size, args.warmup)


def print_benchmark(det, args):
    from ppdet.deploy.benchmark import STAGES, stage_split
    print('benchmark: run_mode=%s device=%s cpu_threads=%d mkldnn=%s bf16=%s batch_size=%d '
          'warmup=%d repeats=%d fuse_preprocess=%s'
          % (args.run_mode, args.device, args.cpu_threads, args.enable_mkldnn,
             args.enable_mkldnn_bfloat16, args.batch_size, args.warmup, args.repeats,
             bool(det.infer_cfg.get('fuse_preprocess'))))
    if hasattr(det.predictor, 'group_norms_rewritten'):
        print('  group_norm run as oneDNN ops: %s' % det.predictor.group_norms_rewritten)
    summary = det.timer.summary()
    split = stage_split(summary)
    for stage in STAGES + ('end_to_end',):
        s = summary.get(stage)
        if not s:
            continue
        share = ('  %5.1f%% of end-to-end' % (100 * split[stage + '_share'])
                 if stage in STAGES else '')
        print('  %-12s mean %8.2f ms  p50 %8.2f ms  p90 %8.2f ms  (%d runs)%s'
              % (stage, s['mean_ms'], s['p50_ms'], s['p90_ms'], s['count'], share))
    print('  pre + post   %.1f%% of end-to-end (stage means add up to %.2f ms)'
          % (100 * split['pre_post_share'], split['stages_sum_ms']))
    print('  peak memory  %.1f MiB' % det.peak_memory_mb())


def check_args(args):
    """Refuse bad values before the model is loaded (one-line errors through run_main)."""
    check_range('--batch_size', args.batch_size, 1, hint='images per predictor run')
    check_range('--threshold', args.threshold, 0.0, 1.0, 'a detection score')
    check_range('--repeats', args.repeats, 1)
    check_range('--warmup', args.warmup, 0)
    check_output_dir(args.output_dir, '--output_dir')


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if sum(bool(x) for x in (args.image_file, args.image_dir, args.video_file)) != 1:
        parser.error('give exactly one of --image_file, --image_dir, --video_file')
    if args.repeats is None:
        args.repeats = 50 if args.run_benchmark else 1
    check_args(args)
    images = None if args.video_file else collect_images(args.image_file, args.image_dir)
    from ppdet.deploy import Detector
    backend_kw = ({'onednn_group_norm': args.onednn_group_norm}
                 if args.run_mode == 'paddle' else
                 {'allow_x86_int8': args.lite_x86_int8} if args.run_mode == 'lite' else {})
    det = Detector(args.model_dir, args.run_mode, device=args.device, **backend_kw,
                   cpu_threads=args.cpu_threads, enable_mkldnn=args.enable_mkldnn,
                   enable_mkldnn_int8=args.enable_mkldnn_int8,
                   enable_mkldnn_bfloat16=args.enable_mkldnn_bfloat16, batch_size=args.batch_size,
                   trt_min_shape=args.trt_min_shape, trt_max_shape=args.trt_max_shape,
                   trt_opt_shape=args.trt_opt_shape, trt_calib_mode=args.trt_calib_mode)
    threshold = args.threshold if args.threshold is not None else \
        float(det.infer_cfg.get('draw_threshold', 0.5))
    try:
        if args.run_benchmark:
            warm_up(det, args)
        if args.video_file:
            run_video(det, args, threshold)
        else:
            run_images(det, images, args, threshold)
        if args.run_benchmark:
            print_benchmark(det, args)
    finally:
        det.close()


if __name__ == '__main__':
    from ppdet.utils.cli import run_main
    run_main(main)
