"""Convert an exported model to a Paddle-Lite .nb with paddle_lite_opt (run in the lite chroot).

    python deploy/lite/convert.py --model_dir output/inference/yolov3_mobilenet_v1 \
        --valid_targets arm --optimize_out output/lite/yolov3_arm     # -> yolov3_arm.nb

The op list is checked first (opt --print_model_ops): an op without a kernel for the
target is reported by name instead of a crash later on the device.  Beside the .nb goes a
.json with the model's input pre-processing, which deploy/lite/arm_benchmark.py reads on the
device (a pre-processing it cannot do, e.g. a Resize keeping the ratio, or an export with
--exclude_nms, whose outputs are no detections, is refused before anything is written;
--nb_only writes the .nb alone, for Paddle-Lite's benchmark_bin).
Needs the chroot from `make lite-env`.
"""
import argparse
import os


def main(argv=None):
    from ppdet.deploy import lite
    from ppdet.deploy.infer_cfg import load_infer_cfg, require_nms
    from ppdet.utils.fileio import check_output_file
    p = argparse.ArgumentParser(description='paddle_lite_opt for an exported model',
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--model_dir', required=True)
    p.add_argument('--valid_targets', default='arm', type=str.lower, choices=lite.TARGETS,
                   help='any case')
    # SUPPRESS: the default is said in the help, not as "(default: None)" after it
    p.add_argument('--optimize_out', default=argparse.SUPPRESS,
                   help="output path without '.nb' (default: MODEL_DIR/model_<target>)")
    p.add_argument('--print_ops', action='store_true', help='only print the op/kernel table')
    p.add_argument('--nb_only', action='store_true',
                   help='write the .nb without the .json arm_benchmark.py feeds it from (for '
                        'Paddle-Lite\'s C++ benchmark_bin, or a model whose pre-processing '
                        'that runner does not do)')
    args = p.parse_args(argv)
    optimize_out = getattr(args, 'optimize_out', None)
    check_output_file(optimize_out, '--optimize_out')
    if not (args.print_ops or args.nb_only):
        # what arm_benchmark.py needs (detections, its pre-processing), refused before opt
        # writes anything (and before the Lite environment is needed)
        cfg = load_infer_cfg(args.model_dir)
        require_nms(args.model_dir, cfg, 'the phone runner (deploy/lite/arm_benchmark.py)',
                    ', or convert with --nb_only (the .nb alone, for Paddle-Lite\'s C++ '
                    'benchmark_bin)')
        lite.device_preprocess(cfg)
    with lite.Opt(args.model_dir) as opt:     # the model staged in the chroot once
        report = opt.model_ops(args.valid_targets)
        for op, targets in sorted(report['ops'].items()):
            print('  %-28s %s' % (op, ','.join(targets) or (
                'folded into the int8 kernels' if lite.is_quant_op(op) else 'NOT SUPPORTED')))
        if not report['supported']:
            raise ValueError('Paddle-Lite has no %s kernel for: %s'
                             % (args.valid_targets, ', '.join(report['missing']) or '(see table)'))
        print('all %d ops supported on %s' % (len(report['ops']), args.valid_targets))
        if args.print_ops:
            return
        nb = opt.optimize(args.valid_targets, optimize_out)
    print('wrote %s (%.1f KiB)' % (nb, os.path.getsize(nb) / 1024.0))
    if not args.nb_only:
        print('wrote %s (how arm_benchmark.py feeds it: copy it beside the .nb)'
              % lite.write_device_preprocess(args.model_dir, nb))


if __name__ == '__main__':
    from ppdet.utils.cli import run_main
    run_main(main)
