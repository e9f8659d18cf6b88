"""The full-size latency tables of several CPUs as one chart: each compressed row's speed-up
over fp32, one bar per CPU, one panel per input size, with the 95% intervals and the goals
(ppdet/benchmark/full_size_plot.py).

python benchmarks/full_size_plot.py \\
    "AMX=benchmarks/results/amx_cpu/quick_1206_run2/full_size_latency_quick.json" \\
    "VNNI=benchmarks/results/second_cpu/quick_1205/320/full_size_latency_quick.json" \\
    "VNNI=benchmarks/results/second_cpu/quick_1205/608/full_size_latency_quick.json" \\
    --out benchmarks/results/full_size_speedups.png

Each LABEL=FILE is a results file of benchmarks/full_size_latency.py --stage time (or all);
a label given twice merges its files (one CPU's sizes timed in two runs).
benchmarks/full_size_latency.py draws the same chart of its own run beside its table.
"""
import os

from ppdet.utils.cli import run_main


def build_parser():
    import argparse
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('results', nargs='+', metavar='LABEL=FILE',
                   help='a bar label (the CPU) and a full_size_latency*.json of it')
    p.add_argument('--out', default='output/full_size_speedups.png', help='the PNG written')
    p.add_argument('--runtimes', default='paddle',
                   help='the runtimes whose rows are drawn, in this order (comma-separated: '
                        'paddle, paddle_bf16, onnx, onnx_int8, ...)')
    p.add_argument('--threads', type=int, default=1, help='the tables\' thread count drawn')
    p.add_argument('--title', default=None, help='a line above the panels')
    return p


def read_runs(pairs):
    """['LABEL=FILE', ...] -> [(label, result), ...]; a clear error for each bad one."""
    from ppdet.utils.fileio import read_json
    runs = []
    for pair in pairs:
        label, sep, path = pair.partition('=')
        if not sep or not label or not path:
            raise ValueError('%r: give LABEL=FILE, e.g. "AMX=benchmarks/results/amx_cpu/'
                             'quick_1206_run2/full_size_latency_quick.json"' % pair)
        if not os.path.isfile(path):
            raise FileNotFoundError('%s (of %s): no such results file; benchmarks/'
                                    'full_size_latency.py --stage time writes them' % (path, label))
        result = read_json(path)
        if not isinstance(result, dict) or 'groups' not in result:
            raise ValueError('%s (of %s) is not a full_size_latency.py results file (no '
                             '"groups"); a paddle_lite_check or order_effect file?' % (path, label))
        runs.append((label, result))
    return runs


def main(argv=None):
    args = build_parser().parse_args(argv)
    from ppdet.benchmark.full_size import TIMED_RUNTIMES
    from ppdet.benchmark.full_size_plot import plot_speedups
    from ppdet.utils.cli import check_choices, check_range
    from ppdet.utils.fileio import check_output_dir
    runtimes = tuple(r for r in args.runtimes.split(',') if r)
    check_choices('--runtimes', runtimes, TIMED_RUNTIMES)
    check_range('--threads', args.threads, 1)
    if os.path.isdir(args.out):
        raise ValueError('--out: %s is a folder; give the chart\'s file, e.g. %s'
                         % (args.out, os.path.join(args.out, 'full_size_speedups.png')))
    check_output_dir(os.path.dirname(os.path.abspath(args.out)), '--out')
    bars = plot_speedups(read_runs(args.results), args.out, runtimes, args.threads, args.title)
    for (config, size), rows in bars.items():
        print('%s at %d, speed-up over fp32:' % (config, size))
        for row, per in rows.items():
            print('  %-32s %s' % (row, ' | '.join('%s %.2fx' % (lb, v[0])
                                                  for lb, v in per.items())))
    print('wrote %s' % args.out)


if __name__ == '__main__':
    run_main(main)
