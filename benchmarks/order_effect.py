"""Does the full-size table's interleaved timing slow the fast rows down?  Times chosen rows
of one built group (benchmarks/full_size_latency.py --stage build) back to back and
interleaved with the group's other configurations, in one process, in alternating blocks;
with --profile_passes also each row's op profile (the sum of each op's fastest time against
the whole passes).

OMP_NUM_THREADS=1 python benchmarks/order_effect.py --work_dir output/full_size_build \\
    --group yolov3_mobilenet_v1:608 --targets r578_int8,r578@32_int8,baseline_int8,baseline

Results: --out_dir/order_effect_CONFIG_SIZE.{json,md} (default output/order_effect; the
committed ones with --out_dir benchmarks/results), with the CPU's flags and the load.
"""
import os

from ppdet.utils.cli import command_line, run_main


def build_parser():
    import argparse
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--work_dir', default='output/full_size_build',
                   help='where full_size_latency.py built the rows (manifest.json)')
    p.add_argument('--group', default='yolov3_mobilenet_v1:608', help='CONFIG:SIZE')
    p.add_argument('--targets', default='r578_int8,r578@32_int8,baseline_int8,baseline',
                   help='rows of the group to time both ways (short names, comma-separated)')
    p.add_argument('--runtimes', default='paddle',
                   help='runtimes the group is loaded with (paddle, onnx, onnx_int8)')
    p.add_argument('--threads', type=int, default=1, help='CPU threads of every configuration')
    p.add_argument('--blocks', type=int, default=3,
                   help='alternating blocks of back-to-back and interleaved runs')
    p.add_argument('--rounds', type=int, default=6, help='interleaved rounds per block')
    p.add_argument('--back_to_back', type=int, default=8, help='runs in a row per block')
    p.add_argument('--pause_s', type=float, default=None,
                   help='sleep before each timed run (default: the full-size table\'s, 0.05 s '
                        'at 1 thread, 0.3 s at more); 0 at 1 thread gives the warm, video-stream '
                        'time back to back (on the AMX CPU a run after 50 ms away re-read its '
                        'data: +2 ms for r578@32 + int8 at 320, docs/full_size_latency.md)')
    p.add_argument('--profile_passes', type=int, default=5,
                   help='op profile passes per target (0: no profile)')
    p.add_argument('--out_dir', default='output/order_effect',
                   help='where order_effect_CONFIG_SIZE.{json,md} are written (a run of the '
                        'same group there is replaced; benchmarks/results holds the committed '
                        'ones)')
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    from ppdet.benchmark.full_size import TIMED_RUNTIMES
    from ppdet.benchmark.order_check import format_order_check, order_check
    from ppdet.utils.cli import check_choices, check_range
    from ppdet.utils.fileio import atomic_write, check_output_dir, read_json, write_json
    config, _, size = args.group.partition(':')
    if not size.isdigit():
        raise ValueError('--group: %r needs an input size, e.g. %s:608' % (args.group, config))
    runtimes = [r for r in args.runtimes.split(',') if r]
    check_choices('--runtimes', runtimes, TIMED_RUNTIMES)
    check_range('--threads', args.threads, 1, hint='CPU threads of every configuration')
    check_range('--profile_passes', args.profile_passes, 0, hint='0: no op profile')
    check_range('--pause_s', args.pause_s, 0, hint='seconds of sleep before each timed run; '
                                                   'leave it out for the default')
    check_output_dir(args.out_dir, '--out_dir')
    manifest_file = os.path.join(args.work_dir, 'manifest.json')
    if not os.path.exists(manifest_file):
        raise ValueError('--work_dir: %s not found: build the rows first (python '
                         'benchmarks/full_size_latency.py --stage build --grid %s --work_dir %s), '
                         'or give the --work_dir they were built in'
                         % (manifest_file, args.group, args.work_dir))
    result = order_check(read_json(manifest_file), config, int(size),
                         [t for t in args.targets.split(',') if t], threads=args.threads,
                         runtimes=runtimes, blocks=args.blocks,
                         rounds=args.rounds, back_to_back=args.back_to_back,
                         pause_s=args.pause_s, profile_passes=args.profile_passes)
    result['command'] = command_line('benchmarks/order_effect.py', argv)
    stem = os.path.join(args.out_dir, 'order_effect_%s_%s' % (config, size))
    write_json(stem + '.json', result)
    md = with_command(format_order_check(result), result['command'])
    atomic_write(stem + '.md', lambda f: f.write(md))
    print(md)


def with_command(md, command):
    """``md`` with a ``Command:`` line under its title (its first line)."""
    title, _, rest = md.partition('\n\n')
    return '%s\n\nCommand: `%s`\n\n%s' % (title, command, rest)


if __name__ == '__main__':
    run_main(main)
