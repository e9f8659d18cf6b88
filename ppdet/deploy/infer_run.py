"""Running a :class:`ppdet.deploy.Detector` over images or a video for
``deploy/python/infer.py``: the drawings (under the inputs' file names in --output_dir; a video
written to a hidden temporary file and moved into place when complete), the inputs guard (a
video OpenCV cannot read, an --output_dir that would overwrite an input: refused before the
model loads) and the --run_benchmark report (the real batches of each shape warmed up, then
the preprocess / inference / postprocess split of the end-to-end time per batch and per image).

The functions take the script's parsed arguments (``args``) where they read its flags.
"""
import collections
import os
import tempfile

from ppdet.utils.fileio import umask_mode

__all__ = ['VIDEO_FORMATS', 'batches', 'decodable', 'drawing_path', 'video_stem',
           'refuse_overwriting_inputs', 'check_video', 'Runs', 'batch_shape', 'run_images',
           'open_writer', 'run_video', 'run_settings', 'print_benchmark']

# (extension, fourcc) of the video written, in the order tried
VIDEO_FORMATS = (('.mp4', 'mp4v'), ('.avi', 'MJPG'))


def batches(items, size):
    for i in range(0, len(items), max(1, size)):
        yield items[i:i + size]


def decodable(paths):
    """-> [(path, RGB image)] of the files that decode; the others are named and skipped."""
    from .preprocess import decode_image
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
        return self.det.predict(images, self.args.repeats,
                                pause_s=self.args.pause_s)

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
    from ppdet.utils.visualizer import draw_boxes, save_result_image, shown_rows
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
            keep = shown_rows(rows, threshold)
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
        try:   # Ctrl-C while OpenCV opens it leaves no temporary file either
            os.close(fd)
            writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*fourcc), fps, size)
            if writer.isOpened():
                return writer, tmp, path_stem + ext
            writer.release()
        except BaseException:
            os.remove(tmp)
            raise
        os.remove(tmp)
    raise ValueError('OpenCV cannot write a video to %s (%s)' % (
        path_stem, ' or '.join('%s/%s' % f for f in VIDEO_FORMATS)))


def run_video(runs, args, threshold):
    import cv2
    from ppdet.utils.visualizer import draw_boxes, shown_rows
    det = runs.det
    cap = cv2.VideoCapture(args.video_file)
    if not cap.isOpened():
        raise ValueError('--video_file: OpenCV cannot open %s' % args.video_file)
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    os.makedirs(args.output_dir, exist_ok=True)
    frames, total, writer, tmp = [], [0, 0], None, None

    def flush():
        for im, rows in zip(frames, runs(frames)):
            writer.write(cv2.cvtColor(draw_boxes(im, rows, det.labels, threshold),
                                      cv2.COLOR_RGB2BGR))
            total[0] += 1
            total[1] += len(shown_rows(rows, threshold))
        frames.clear()

    try:
        writer, tmp, out_path = open_writer(video_stem(args.output_dir, args.video_file), fps,
                                           size)
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
        if writer is not None:
            writer.release()
        if tmp is not None and os.path.exists(tmp):
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
    from .benchmark import STAGES, stage_split
    det = runs.det
    print('benchmark: run_mode=%s device=%s %s batch_size=%d warmup=%d repeats=%d '
          'pause_s=%g fuse_preprocess=%s' % (
              args.run_mode, args.device, run_settings(det, args), args.batch_size,
              args.warmup, args.repeats, args.pause_s,
              bool(det.infer_cfg.get('fuse_preprocess'))))
    print('  CPU: %s' % cpu_description())
    flags = cpu_flags()
    print('  CPU flags: %s' % flags['flags'])
    print('  heap in huge pages: %s' % flags['huge_pages'])
    if hasattr(det.predictor, 'group_norms_rewritten'):
        print('  group_norm run as oneDNN ops: %s' % det.predictor.group_norms_rewritten)
    print('  batches timed: %s; times in ms per batch (mean, p50, p90) and per image (all '
          'runs\' time / their images); the images are decoded before timing (reading and '
          'decoding a file is not in preprocess or end_to_end)' % ', '.join(
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
