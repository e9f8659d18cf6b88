"""Where an exported model's end-to-end time goes, op by op (Paddle's profiler).

The oneDNN profile (:mod:`ppdet.benchmark.onednn_ops`) sees only oneDNN primitives.  This
one times every op of the graph as Paddle's executor runs it (``paddle.profiler``, host
events, in a child process so that the timing process never has a profiler attached), plus
the whole ``Detector.predict`` pass around them, and splits a pass into

* ``before_convs``: the ops before the first convolution (the fused pre-processing:
  cast, transpose, normalise; an int8 model's input quantize);
* ``convs``: the convolutions (with what oneDNN fused into them);
* ``other_network``: every other op between the first and the last convolution
  (upsampling, concats, residual adds, re-quantization);
* ``after_convs``: the ops after the last convolution (box decoding, top-k, NMS);
* ``outside_ops``: the pass less its ops (Python pre- and post-processing, the input and
  output copies, the executor's own time between ops).

A model whose convolutions are fast (int8, pruned) spends a larger share in the rest: this
says how much, and in which op types.

Each op is taken at its fastest over the passes, so ``pass_ms`` (their sum) is a lower
bound that no single pass reached; ``whole_pass_ms`` gives the passes as they ran (fastest
and median).  Measured on the AVX2 CPU (YOLOv3-MobileNetV1 at 608, five passes): the sum was
2-7% below the fastest pass and 7-12% below the median one, so compare a timing table's
medians with ``whole_pass_ms``, not with ``pass_ms``.
"""
import collections
import json
import os
import tempfile

from .onednn_ops import fastest_of_passes, run_child

__all__ = ['CONV_OPS', 'parse_trace', 'split_pass', 'op_profile', 'whole_passes',
           'format_op_profiles']

CONV_OPS = frozenset(['conv2d', 'depthwise_conv2d', 'fused_conv2d', 'fused_conv2d_add_act',
                      'conv2d_fusion', 'deformable_conv', 'conv2d_transpose',
                      'fused_conv2d_transpose'])

_CHILD = r'''
import sys
from ppdet.deploy import Detector
from ppdet.data.sample_photos import face_photos
import paddle.profiler as profiler
det = Detector(sys.argv[1], sys.argv[2], cpu_threads=int(sys.argv[3]))
image = face_photos()['astronaut']
det.warm_up([image], int(sys.argv[4]))
prof = profiler.Profiler(targets=[profiler.ProfilerTarget.CPU],
                         on_trace_ready=profiler.export_chrome_tracing(sys.argv[6]))
prof.start()
for _ in range(int(sys.argv[5])):
    det.predict([image])
    prof.step()
prof.stop()
'''


def parse_trace(trace):
    """A chrome trace of ``paddle.profiler`` -> one pass per ``ProfileStep`` that ran ops
    (``stop()`` closes an empty one): ``{'pass_ms', 'ops': [{'op', 'ms'}, ...]}``, the ops
    in execution order."""
    events = trace['traceEvents'] if isinstance(trace, dict) else trace
    steps = sorted((e for e in events if e.get('cat') == 'ProfileStep'), key=lambda e: e['ts'])
    ops = sorted((e for e in events if e.get('cat') == 'Operator'), key=lambda e: e['ts'])
    passes = []
    for s in steps:
        end = s['ts'] + s['dur']
        inside = [{'op': e['name'].split('[')[0], 'ms': e['dur'] / 1e3}
                  for e in ops if s['ts'] <= e['ts'] and e['ts'] + e['dur'] <= end]
        if inside:
            passes.append({'pass_ms': s['dur'] / 1e3, 'ops': inside})
    return passes


def split_pass(ops, outside_ms, top=6):
    """Ops of one pass (execution order) and the pass's time outside them -> the parts of the
    module docstring in ms, their shares of the pass (the parts add up to ``pass_ms``), the
    op types after the last conv (and each op there with its ms, in order) and the ``top``
    non-convolution op types."""
    convs = [i for i, o in enumerate(ops) if o['op'] in CONV_OPS]
    first, last = (convs[0], convs[-1]) if convs else (len(ops), len(ops) - 1)
    parts = collections.OrderedDict((k, 0.0) for k in (
        'before_convs', 'convs', 'other_network', 'after_convs'))
    by_type = collections.Counter()
    for i, o in enumerate(ops):
        part = ('before_convs' if i < first else 'after_convs' if i > last else
                'convs' if o['op'] in CONV_OPS else 'other_network')
        parts[part] += o['ms']
        if o['op'] not in CONV_OPS:
            by_type[o['op']] += o['ms']
    parts['outside_ops'] = outside_ms
    pass_ms = sum(parts.values())
    after = [o['op'] for o in ops[last + 1:]]
    out = {'pass_ms': pass_ms, 'ops': len(ops), 'convs_count': len(convs),
           'after_convs_ops': sorted(set(after), key=after.index),
           'after_convs_each': [[o['op'], o['ms']] for o in ops[last + 1:]],
           'parts_ms': dict(parts),
           'shares': {k: (v / pass_ms if pass_ms else 0.0) for k, v in parts.items()},
           'top_other_ops': [[k, v] for k, v in by_type.most_common(top)]}
    return out


def op_profile(model_dir, run_mode='paddle', threads=1, warmup=3, passes=5, timeout=600):
    """Profile ``passes`` Detector passes of ``model_dir`` on the astronaut photo after
    ``warmup``; -> :func:`split_pass` with each op, and the time outside the ops, at its
    fastest over the passes (a shared machine's load lands on single runs, as in the oneDNN
    profile)."""
    with tempfile.TemporaryDirectory() as tmp:
        run_child(_CHILD, [model_dir, run_mode, threads, warmup, passes, tmp], model_dir,
                  timeout)
        traces = [os.path.join(tmp, f) for f in os.listdir(tmp) if f.endswith('.json')]
        if len(traces) != 1:
            raise RuntimeError('profile of %s wrote %d traces, expected 1' % (
                model_dir, len(traces)))
        with open(traces[0]) as f:
            measured = parse_trace(json.load(f))
    if not measured:
        raise RuntimeError('profile of %s recorded no ops' % model_dir)
    ops = fastest_of_passes([p['ops'] for p in measured], key=lambda o: o['op'])
    outside = min(p['pass_ms'] - sum(o['ms'] for o in p['ops']) for p in measured)
    out = split_pass(ops, max(0.0, outside))
    out['whole_pass_ms'] = whole_passes([p['pass_ms'] for p in measured])
    return out


def whole_passes(pass_ms):
    """Measured pass times -> {'fastest', 'median', 'passes'}."""
    from ppdet.deploy.benchmark import latency_stats
    s = latency_stats(pass_ms)
    return {'fastest': s['min_ms'], 'median': s['p50_ms'], 'passes': s['count']}


def format_op_profiles(profiles):
    """{row name: op_profile()} -> a markdown table, one row per model."""
    lines = ['| model | pass: each op\'s fastest, summed (ms) | whole passes: fastest / median '
             '(ms) | before the first conv | convs | other network ops | after the last conv '
             '(decode, NMS) | outside the ops | largest non-conv ops (ms) |',
             '|---|---|---|---|---|---|---|---|---|']
    for name, p in profiles.items():
        cells = ['%.2f (%.1f%%)' % (p['parts_ms'][k], 100 * p['shares'][k]) for k in (
            'before_convs', 'convs', 'other_network', 'after_convs', 'outside_ops')]
        top = ', '.join('%s %.2f' % (k, v) for k, v in p['top_other_ops'])
        whole = p.get('whole_pass_ms')   # results written before it was recorded lack it
        lines.append('| %s | %.2f | %s | %s | %s |' % (
            name, p['pass_ms'], '%.2f / %.2f' % (whole['fastest'], whole['median'])
            if whole else '-', ' | '.join(cells), top))
    return '\n'.join(lines) + '\n'
