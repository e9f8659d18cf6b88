"""Run an exported detector on images, a directory or a video and save the drawings.

    python deploy/python/infer.py --model_dir output/inference/yolov3_mobilenet_v1 \
        --image_file demo.jpg [--run_mode paddle|trt_fp32|trt_fp16|trt_int8|onnx|lite] \
        [--device CPU|GPU] [--cpu_threads 2] [--enable_mkldnn true] [--run_benchmark]
        [--enable_mkldnn_bfloat16]    # fp32 model in bf16 on a CPU with AVX512-BF16 / AMX

--run_benchmark warms up with 10 untimed passes on the first real batch of each shape (its
batch size, and its image sizes where the model's input size is not fixed), then times 50
passes of the whole pipeline per batch and prints the preprocess / inference / postprocess
split of the end-to-end time, per batch and per image (PaddleDetection's infer.py warms up
with 50 inference runs and times 10; here every stage is repeated, so the split's means add
up to the end-to-end mean).

The drawings go to --output_dir under the inputs' file names: an --output_dir that would
overwrite an input (the --image_dir itself) is refused before the model loads.  A video is
written to a hidden temporary file beside its final name and moved there when complete.
"""
import argparse
import collections
import os
import tempfile

from ppdet.utils.cli import check_range, str2bool
from ppdet.utils.fileio import check_output_dir, umask_mode
from ppdet.utils.image_files import IMAGE_EXTS, collect_images

# (extension, fourcc) of the video written, in the order tried
VIDEO_FORMATS = (('.mp4', 'mp4v'), ('.avi', 'MJPG'))


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
    p.add_argument('--image_file', default=None, help='one image to run on')
    p.add_argument('--image_dir', default=None,
                   help='run on every image (%s) directly inside this folder; not recursive '
                        '(subfolders are not read)' % '/'.join(IMAGE_EXTS))
    p.add_argument('--video_file', default=None,
                   help='a video OpenCV can read; the drawn video is written to --output_dir '
                        'as NAME.mp4 (or NAME.avi)')
    p.add_argument('--run_mode', default='paddle', choices=RUN_MODES,
                   help='paddle: Paddle Inference; trt_fp32/trt_fp16/trt_int8: Paddle Inference '
                        '+ TensorRT (--device GPU, a TensorRT build); onnx: onnxruntime (the '
                        'model converted once to MODEL_DIR/model.onnx); lite: Paddle-Lite x86 '
                        '.nb (make lite-env)')
    p.add_argument('--device', default='CPU', type=str.upper, choices=['CPU', 'GPU'],
                   help='GPU needs paddlepaddle-gpu (onnx: onnxruntime-gpu)')
    p.add_argument('--cpu_threads', type=int, default=1,
                   help='CPU threads of the runtime (paddle, onnx; x86 Paddle-Lite has no '
                        'thread setting)')
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
    p.add_argument('--batch_size', type=int, default=1,
                   help='images (or video frames) per predictor run')
    p.add_argument('--threshold', type=float, default=None,
                   help='drawing/printing score threshold; default: draw_threshold of infer_cfg.yml')
    p.add_argument('--output_dir', default='output',
                   help='where the drawings go, under the inputs\' file names (made if '
                        'missing; not the folder of the inputs)')
    p.add_argument('--run_benchmark', type=str2bool, nargs='?', const=True, default=False,
                   help='print preprocess/inference/postprocess times and peak memory')
    p.add_argument('--warmup', type=int, default=10,
                   help='untimed runs of the whole pipeline on the first batch of each shape, '
                        'before it is timed (--run_benchmark)')
    p.add_argument('--repeats', type=int, default=None,
                   help='timed runs of the whole pipeline (preprocess, inference, postprocess) '
                        'per batch; default 50 with --run_benchmark, else 1')
    for name, default, what in (('min', 1, 'smallest input size'),
                                ('max', 1280, 'largest input size'),
                                ('opt', 640, 'input size it is tuned for')):
        p.add_argument('--trt_%s_shape' % name, type=shape_arg, default=default,
                       help='TensorRT: the %s, H or H,W, for a model exported with a dynamic '
                            'size (trt_* run modes, need --device GPU)' % what)
    p.add_argument('--trt_calib_mode', type=str2bool, nargs='?', const=True, default=False,
                   help='calibrate an fp32 model for trt_int8 (needs --device GPU)')
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


def drawing_path(output_dir, path):
    """Where the drawing of image ``path`` goes (save_result_image adds .jpg to a bare name)."""
    name = os.path.basename(path)
    return os.path.join(output_dir, name if os.path.splitext(name)[1] else name + '.jpg')


def video_stem(output_dir, video_file):
    """The drawn video's path without its extension (that of the first of
    :data:`VIDEO_FORMATS` OpenCV can write)."""
    return os.path.join(output_dir, os.path.splitext(os.path.basename(video_file))[0])


def refuse_overwriting_inputs(inputs, outputs, what):
    """Refuse, before any work, an output that is one of the ``inputs`` (the same file by any
    path: ``./``, a symbolic or hard link): ``--output_dir D`` with ``--image_dir D`` drew
    over the images (and a rerun drew on the drawings); with ``--video_file D/clip.mp4`` the
    video was destroyed."""
    ids = {}
    for path in inputs:
        st = os.stat(path)
        ids[(st.st_dev, st.st_ino)] = path
    for out in outputs:
        st = os.stat(out) if os.path.exists(out) else None
        if st and (st.st_dev, st.st_ino) in ids:
            raise ValueError('--output_dir: %s would overwrite the input %s %s; give another '
                             '--output_dir' % (out, what, ids[(st.st_dev, st.st_ino)]))


def check_video(path):
    """Refuse a --video_file that is missing or that OpenCV cannot read, before the model
    loads (it was found out only after loading)."""
    import cv2
    if os.path.isdir(path):
        raise ValueError('--video_file %s is a directory; give a video file (images: '
                         '--image_dir %s)' % (path, path))
    if not os.path.isfile(path):
        raise FileNotFoundError('--video_file: %s not found' % path)
    cap = cv2.VideoCapture(path)
    try:
        if not cap.isOpened() or not cap.read()[0]:
            raise ValueError('--video_file: OpenCV cannot read a frame of %s (not a video, or '
                             'a format this OpenCV build has no decoder for)' % path)
    finally:
        cap.release()


class Runs(object):
    """``runs(images)``: the detections of one real batch, ``--repeats`` timed runs of the
    whole pipeline.  With --run_benchmark, the first batch of each shape (its size, and its
    images' sizes where the model's input size is not fixed) gets ``--warmup`` untimed runs
    first: with 3 images at --batch_size 2 the batch of 1 is warmed up too, and a warm-up on
    dummy images of --batch_size no longer stands in for batches of another size."""

    def __init__(self, det, args):
        self.det, self.args = det, args
        self.warmed = set()
        self.batches = collections.Counter()   # batch size -> batches timed

    def __call__(self, images):
        if self.args.run_benchmark:
            shape = batch_shape(self.det.infer_cfg, images)
            if shape not in self.warmed:
                self.det.warm_up(images, self.args.warmup)
                self.warmed.add(shape)
        self.batches[len(images)] += 1
        return self.det.predict(images, self.args.repeats)

    def images_timed(self):
        return sum(size * n for size, n in self.batches.items()) * self.args.repeats


def batch_shape(infer_cfg, images):
    """What the runtime sees change between batches: their size, and the images' sizes
    unless the model resizes every image to one fixed input size."""
    _, h, w = infer_cfg.get('image_shape') or [3, None, None]
    if h and w:
        return (len(images),)
    return (len(images),) + tuple(im.shape[:2] for im in images)


def run_images(runs, paths, args, threshold):
    from ppdet.utils.image_io import ImageDecodeError
    from ppdet.utils.visualizer import draw_boxes, save_result_image
    labels = runs.det.labels
    done = 0
    for chunk in batches(paths, args.batch_size):
        pairs = decodable(chunk)
        if not pairs:
            continue
        done += len(pairs)
        chunk, images = [p for p, _ in pairs], [im for _, im in pairs]
        for path, im, rows in zip(chunk, images, runs(images)):
            out = save_result_image(drawing_path(args.output_dir, path),
                                    draw_boxes(im, rows, labels, threshold))
            keep = rows[rows[:, 1] >= threshold]
            print('%s: %d detections >= %.2f -> %s' % (path, len(keep), threshold, out))
            for r in keep:
                name = labels[int(r[0])] if 0 <= int(r[0]) < len(labels) else int(r[0])
                print('  %s %.3f [%.1f, %.1f, %.1f, %.1f]' % ((name, r[1]) + tuple(r[2:6])))
    if not done:
        raise ImageDecodeError('none of the %d image(s) can be decoded (see above)' % len(paths))


def open_writer(path_stem, fps, size):
    """-> (writer, temporary path, final path): the video is written to a hidden temporary
    file beside the final one (same extension: OpenCV picks the container by it), which
    :func:`run_video` moves into place once the video is complete."""
    import cv2
    folder, name = os.path.split(path_stem)
    for ext, fourcc in VIDEO_FORMATS:
        fd, tmp = tempfile.mkstemp(dir=folder or '.', prefix='.%s.' % name,
                                   suffix='.partial' + ext)
        os.close(fd)
        writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*fourcc), fps, size)
        if writer.isOpened():
            return writer, tmp, path_stem + ext
        writer.release()
        os.remove(tmp)
    raise ValueError('OpenCV cannot write a video to %s (%s)' % (
        path_stem, ' or '.join('%s/%s' % f for f in VIDEO_FORMATS)))


def run_video(runs, args, threshold):
    import cv2
    from ppdet.utils.visualizer import draw_boxes
    det = runs.det
    cap = cv2.VideoCapture(args.video_file)
    if not cap.isOpened():
        raise ValueError('--video_file: OpenCV cannot open %s' % args.video_file)
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    os.makedirs(args.output_dir, exist_ok=True)
    writer, tmp, out_path = open_writer(video_stem(args.output_dir, args.video_file), fps,
                                       size)
    frames, total = [], [0, 0]

    def flush():
        for im, rows in zip(frames, runs(frames)):
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
        writer.release()
        os.chmod(tmp, umask_mode())
        os.replace(tmp, out_path)
    finally:   # an error or Ctrl-C leaves no partial video behind
        cap.release()
        writer.release()
        if os.path.exists(tmp):
            os.remove(tmp)
    print('%s: %d frames, %d detections >= %.2f -> %s'
          % (args.video_file, total[0], total[1], threshold, out_path))


def run_settings(det, args):
    """The settings line's runtime part: threads, and oneDNN / int8 / bf16 where they apply
    (what the Paddle predictor was configured with, not what was asked)."""
    pred = det.predictor
    if args.run_mode == 'lite':   # deploy/lite/README.md: no thread setting on x86
        parts = ['cpu_threads=n/a (x86 Paddle-Lite has no thread setting)']
    else:
        parts = ['cpu_threads=%d' % args.cpu_threads]
    if args.run_mode == 'paddle' and args.device == 'CPU':
        parts += ['mkldnn=%s' % pred.config.mkldnn_enabled(),
                  'int8=%s' % pred.config.mkldnn_int8_enabled(), 'bf16=%s' % pred.bf16]
    elif args.run_mode.startswith('trt_'):
        parts.append('int8=%s' % (args.run_mode == 'trt_int8'))
    else:   # onnx, lite: the model's own int8 ops, if it has them
        parts.append('int8=%s' % bool(det.infer_cfg.get('quantized')))
    return ' '.join(parts)


def print_benchmark(runs, args):
    from ppdet.benchmark.cpu import cpu_description, cpu_flags
    from ppdet.deploy.benchmark import STAGES, stage_split
    det = runs.det
    print('benchmark: run_mode=%s device=%s %s batch_size=%d warmup=%d repeats=%d '
          'fuse_preprocess=%s' % (args.run_mode, args.device, run_settings(det, args),
                                  args.batch_size, args.warmup, args.repeats,
                                  bool(det.infer_cfg.get('fuse_preprocess'))))
    print('  CPU: %s' % cpu_description())
    print('  CPU flags: %s' % cpu_flags()['flags'])
    if hasattr(det.predictor, 'group_norms_rewritten'):
        print('  group_norm run as oneDNN ops: %s' % det.predictor.group_norms_rewritten)
    print('  batches timed: %s; times in ms per batch (mean, p50, p90) and per image (all '
          'runs\' time / their images)' % ', '.join(
              '%d batch(es) of %d image(s)' % (n, size)
              for size, n in sorted(runs.batches.items(), reverse=True)))
    summary = det.timer.summary()
    split = stage_split(summary)
    per_image = float(runs.images_timed()) or 1.0
    for stage in STAGES + ('end_to_end',):
        s = summary.get(stage)
        if not s:
            continue
        share = ('  %5.1f%% of end-to-end' % (100 * split[stage + '_share'])
                 if stage in STAGES else '')
        print('  %-12s mean %8.2f ms/batch  p50 %8.2f  p90 %8.2f  (%d runs)  %8.2f ms/image%s'
              % (stage, s['mean_ms'], s['p50_ms'], s['p90_ms'], s['count'],
                 s['mean_ms'] * s['count'] / per_image, share))
    print('  pre + post   %.1f%% of end-to-end (stage means add up to %.2f ms/batch)'
          % (100 * split['pre_post_share'], split['stages_sum_ms']))
    print('  peak memory  %.1f MiB' % det.peak_memory_mb())


def check_args(args):
    """Refuse bad values before the model is loaded (one-line errors through run_main)."""
    check_range('--batch_size', args.batch_size, 1, hint='images per predictor run')
    check_range('--threshold', args.threshold, 0.0, 1.0, 'a detection score')
    check_range('--repeats', args.repeats, 1)
    check_range('--warmup', args.warmup, 0)
    check_range('--cpu_threads', args.cpu_threads, 1, hint='threads of the runtime')
    check_output_dir(args.output_dir, '--output_dir')


def check_inputs(args):
    """The images to run on (None for a video), checked with what would be written before
    the model loads: a video that cannot be read, an --output_dir that would overwrite an
    input."""
    if args.video_file:
        check_video(args.video_file)
        stem = video_stem(args.output_dir, args.video_file)
        refuse_overwriting_inputs([args.video_file],
                                  [stem + ext for ext, _ in VIDEO_FORMATS], 'video')
        return None
    images = collect_images(args.image_file, args.image_dir)
    refuse_overwriting_inputs(images, [drawing_path(args.output_dir, p) for p in images],
                              'image')
    return images


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if sum(bool(x) for x in (args.image_file, args.image_dir, args.video_file)) != 1:
        parser.error('give exactly one of --image_file, --image_dir, --video_file')
    if args.repeats is None:
        args.repeats = 50 if args.run_benchmark else 1
    check_args(args)
    images = check_inputs(args)
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
    runs = Runs(det, args)
    try:
        if args.video_file:
            run_video(runs, args, threshold)
        else:
            run_images(runs, images, args, threshold)
        if args.run_benchmark:
            print_benchmark(runs, args)
    finally:
        det.close()


if __name__ == '__main__':
    from ppdet.utils.cli import run_main
    run_main(main)
