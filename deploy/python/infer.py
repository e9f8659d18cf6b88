"""Run an exported detector on images, a directory or a video and save the drawings.

    python deploy/python/infer.py --model_dir output/inference/yolov3_mobilenet_v1 \
        --image_file demo.jpg [--run_mode paddle|trt_fp32|trt_fp16|trt_int8|onnx|lite] \
        [--device CPU|GPU] [--cpu_threads 1] [--enable_mkldnn true] [--run_benchmark]
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

from ppdet.deploy.infer_run import (VIDEO_FORMATS, Runs, check_video, drawing_path,
                                    print_benchmark, refuse_overwriting_inputs, run_images,
                                    run_video, video_stem)
from ppdet.utils.cli import check_range, str2bool
from ppdet.utils.fileio import check_output_dir
from ppdet.utils.image_files import IMAGE_EXTS, collect_images


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
    p.add_argument('--pause_s', type=float, default=0.0,
                   help='sleep this long before each timed run (--run_benchmark): the latency '
                        'of a model called now and then, whose data leaves the CPU caches in '
                        'between (on a shared host +3 ms for the pruned int8 YOLOv3 at 320 '
                        'after 0.05 s away); 0: back to back, a video stream\'s latency')
    for name, default, what in (('min', 1, 'smallest input size'),
                                ('max', 1280, 'largest input size'),
                                ('opt', 640, 'input size it is tuned for')):
        p.add_argument('--trt_%s_shape' % name, type=shape_arg, default=default,
                       help='TensorRT: the %s, H or H,W, for a model exported with a dynamic '
                            'size (trt_* run modes, need --device GPU)' % what)
    p.add_argument('--trt_calib_mode', type=str2bool, nargs='?', const=True, default=False,
                   help='calibrate an fp32 model for trt_int8 (needs --device GPU)')
    return p


def check_args(args):
    """Refuse bad values before the model is loaded (one-line errors through run_main)."""
    check_range('--batch_size', args.batch_size, 1, hint='images per predictor run')
    check_range('--threshold', args.threshold, 0.0, 1.0, 'a detection score')
    check_range('--repeats', args.repeats, 1)
    check_range('--warmup', args.warmup, 0)
    check_range('--pause_s', args.pause_s, 0.0, 60.0, 'seconds of sleep before each timed run')
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
