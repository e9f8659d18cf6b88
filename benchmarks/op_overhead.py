"""What Paddle Inference spends per op around its oneDNN kernel, measured.

Two programs of tiny 1x1 conv + ReLU layers (16 channels, 4x4): one layer, and ``1 + N``
layers.  The primitives take a microsecond or two, so the wall time of the N extra layers
per pass is almost all framework cost: the executor's data preparation, shape inference
and oneDNN primitive lookup for every op.  Timed interleaved, 1 thread, median of
``--rounds``; the oneDNN verbose time of the primitives of one pass is printed beside it.

python benchmarks/op_overhead.py            # -> benchmarks/results/op_overhead.{json,md}

The .json records the run's --extra and --rounds; an --out holding a run with other ones is
refused (--overwrite replaces it).

Why it matters: an exported YOLOv3 runs ~100 ops per pass (102 in the r578 + int8 model),
so at tens of microseconds each the op wrappers, not the post-processing, are what is left
of an int8 detector's time at small inputs.
"""
import os
import time

import numpy as np

from ppdet.utils.cli import command_line, run_main

CHILD = r'''
import sys
sys.path.insert(0, sys.argv[1])
from benchmarks.op_overhead import build_chain
p = build_chain(sys.argv[2], int(sys.argv[3]))
for _ in range(5):
    p.run()
print('=== timed pass ===', flush=True)
p.run()
'''


def build_chain(work_dir, layers, channels=16, size=4, threads=1):
    """A saved program of ``layers`` 1x1 conv + ReLU layers, loaded as a oneDNN predictor."""
    import paddle
    from paddle import inference
    prefix = os.path.join(work_dir, 'chain_%d' % layers)
    from ppdet.utils.static_graph import static_mode
    if not os.path.isfile(prefix + '.pdmodel'):
        with static_mode():
            main, start = paddle.static.Program(), paddle.static.Program()
            with paddle.static.program_guard(main, start):
                x = paddle.static.data('x', [1, channels, size, size], 'float32')
                y = x
                for _ in range(layers):
                    y = paddle.nn.functional.relu(paddle.static.nn.conv2d(y, channels, 1))
                exe = paddle.static.Executor()
                exe.run(start)
                paddle.static.save_inference_model(prefix, [x], [y], exe, program=main)
    cfg = inference.Config(prefix + '.pdmodel', prefix + '.pdiparams')
    cfg.disable_gpu()
    cfg.set_cpu_math_library_num_threads(threads)
    cfg.enable_mkldnn()
    cfg.disable_glog_info()
    cfg.switch_ir_optim(True)
    cfg.enable_memory_optim()
    pred = inference.create_predictor(cfg)
    pred.get_input_handle('x').copy_from_cpu(
        np.random.RandomState(0).rand(1, channels, size, size).astype('float32'))
    return pred


def onednn_primitive_us(work_dir, layers):
    """oneDNN verbose: (number of primitives, their total microseconds) in one pass."""
    from ppdet.benchmark.onednn_ops import timed_pass_records
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    recs = timed_pass_records(CHILD, [root, work_dir, layers], 'a %d-layer chain' % layers,
                              env=dict(os.environ, OMP_NUM_THREADS='1'))
    return len(recs), 1000.0 * sum(r['ms'] for r in recs)


def measure(work_dir, extra=50, rounds=200, warmup=20):
    """-> {'per_op_us', 'pass_us': {layers: median}, 'primitive_us_per_op', ...}."""
    os.makedirs(work_dir, exist_ok=True)
    preds = {n: build_chain(work_dir, n) for n in (1, 1 + extra)}
    for p in preds.values():
        for _ in range(warmup):
            p.run()
    samples = {n: [] for n in preds}
    for _ in range(rounds):
        for n, p in preds.items():     # interleaved
            t = time.perf_counter()
            p.run()
            samples[n].append(1e6 * (time.perf_counter() - t))
    med = {n: float(np.median(v)) for n, v in samples.items()}
    per_op = (med[1 + extra] - med[1]) / extra
    count, prim_us = onednn_primitive_us(work_dir, 1 + extra)
    return {'extra_layers': extra, 'rounds': rounds, 'pass_us': {str(n): v for n, v in med.items()},
            'per_op_us': per_op, 'primitives': count, 'primitive_us': prim_us,
            'primitive_us_per_op': prim_us / max(1, count)}


def format_md(res, cpu):
    return '\n'.join([
        '# Paddle Inference: time per op around the oneDNN kernel', '',
        'Command: `%s`' % res['command'], '',
        'CPU: %s  ' % cpu['summary'], 'CPU flags: `%s`  ' % cpu['flags'],
        'Date: %s; 1 thread, oneDNN fp32, median of %d interleaved passes.' % (
            res['date'], res['rounds']), '',
        'A chain of %d extra 1x1 conv + ReLU layers (16 channels, 4x4) costs **%.1f us per '
        'layer** per pass (one layer: %.0f us per pass, %d layers: %.0f us); oneDNN verbose '
        'counts %d primitives in one pass of the long chain, %.2f us each: the rest of each '
        "layer's time is Paddle's op wrapper." % (
            res['extra_layers'], res['per_op_us'], res['pass_us']['1'],
            1 + res['extra_layers'], res['pass_us'][str(1 + res['extra_layers'])],
            res['primitives'], res['primitive_us_per_op']), ''])


def run_settings(args):
    """What the numbers depend on (recorded in the .json): the chain's length and the timed
    passes (the paths are not)."""
    return {'extra': args.extra, 'rounds': args.rounds}


def recorded_settings(res):
    """An .json's record of its run (:func:`run_settings`); for one written before the
    record (the committed one), its ``extra_layers`` and ``rounds``."""
    from ppdet.utils.settings_record import SETTINGS_KEY
    if not isinstance(res, dict):
        raise TypeError('not a results dict')
    if SETTINGS_KEY in res:
        return res[SETTINGS_KEY]
    return {k: res[name] for k, name in (('extra', 'extra_layers'), ('rounds', 'rounds'))
            if name in res}


def build_parser():
    import argparse
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--work_dir', default='output/op_overhead',
                   help='where the two chain programs are saved (reused when there)')
    p.add_argument('--out', default='benchmarks/results/op_overhead',
                   help='path without extension (.json and .md are written)')
    p.add_argument('--extra', type=int, default=50, help='layers of the long chain beyond one')
    p.add_argument('--rounds', type=int, default=200,
                   help='interleaved timed passes of each chain (their median is reported)')
    p.add_argument('--overwrite', action='store_true',
                   help='replace an --out .json of a run with another --extra or --rounds')
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    from ppdet.benchmark.cpu import cpu_flags
    from ppdet.utils.cli import check_range
    from ppdet.utils.fileio import atomic_write, check_output_dir, check_output_file, write_json
    # before any chain is built or timed
    check_range('--extra', args.extra, 1, hint='layers of the long chain beyond the one of '
                                               'the short chain')
    check_range('--rounds', args.rounds, 1, hint='timed passes of each chain')
    check_output_dir(args.work_dir, '--work_dir')
    for ext in ('.json', '.md'):
        check_output_file(args.out + ext, '--out')
    from ppdet.utils.settings_record import SETTINGS_KEY, check_results_overwrite
    settings = run_settings(args)
    check_results_overwrite(args.out + '.json', settings, args.overwrite, '--out',
                            recorded_settings)
    command = command_line('benchmarks/op_overhead.py', argv)
    res = measure(args.work_dir, args.extra, args.rounds)
    res['date'] = time.strftime('%Y-%m-%d %H:%M %Z')
    res['cpu'] = cpu_flags()
    res['command'] = command
    res[SETTINGS_KEY] = settings
    md = format_md(res, res['cpu'])
    write_json(args.out + '.json', res)
    atomic_write(args.out + '.md', lambda f: f.write(md))
    print(md)


if __name__ == '__main__':
    run_main(main)
