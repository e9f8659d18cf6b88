"""Paddle's op profile of one model with the decoding tail's reshapes in place and with the
copy (two children, the same settings), op by op: where does the fp32 baseline's gain at 320
come from?  Usage: OMP_NUM_THREADS=1 python reshape_op_profile.py MODEL_DIR [PASSES]"""
import json, os, sys, tempfile
from ppdet.benchmark.onednn_ops import fastest_of_passes, run_child
from ppdet.benchmark.op_profile import _CHILD, parse_trace, split_pass
d = sys.argv[1]
passes = int(sys.argv[2]) if len(sys.argv) > 2 else 15
res = {}
for on in (True, False):
    child = _CHILD.replace("cpu_threads=int(sys.argv[3]))",
                           "cpu_threads=int(sys.argv[3]), onednn_reshape_in_place=%s)" % on)
    assert child != _CHILD
    with tempfile.TemporaryDirectory() as tmp:
        run_child(child, [d, 'paddle', 1, 5, passes, tmp], d, 600)
        trace = [os.path.join(tmp, f) for f in os.listdir(tmp) if f.endswith('.json')][0]
        measured = parse_trace(json.load(open(trace)))
    ops = fastest_of_passes([p['ops'] for p in measured], key=lambda o: o['op'])
    outside = min(p['pass_ms'] - sum(o['ms'] for o in p['ops']) for p in measured)
    res[on] = (ops, split_pass(ops, max(0.0, outside)),
               sorted(p['pass_ms'] for p in measured))
for on in (True, False):
    s = res[on][1]
    whole = res[on][2]
    print('in place' if on else 'copy    ', 'pass sum %.2f' % s['pass_ms'],
          {k: round(v, 3) for k, v in s['parts_ms'].items()},
          'whole passes fastest %.2f median %.2f' % (whole[0], whole[len(whole) // 2]))
a, b = res[True][0], res[False][0]
print('ops:', len(a), len(b))
assert [o['op'] for o in a] == [o['op'] for o in b]
diffs = [(y['ms'] - x['ms'], '#%d %s' % (i, x['op'])) for i, (x, y) in enumerate(zip(a, b))]
diffs.sort()
print('largest copy - in place per op (ms):')
for dms, name in diffs[-8:][::-1] + diffs[:4]:
    print('  %+.3f %s' % (dms, name))
print('sum of differences over matched ops: %+.3f ms' % sum(x for x, _ in diffs))
