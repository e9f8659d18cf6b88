"""Paddle's op profile (ppdet.benchmark.op_profile: each op's fastest of 10 passes after 5
warm-up ones, back to back) of the fp32 baseline at 608 and r578@32 + int8 at 608 and 320, at
1 and 2 threads: which parts of a pass use the second core.

Usage: OMP_NUM_THREADS=1 python op_profile_threads.py WORK_DIR OUT_JSON"""
import json, sys
from ppdet.benchmark.op_profile import op_profile
out = {}
for row in ('yolov3_mobilenet_v1_608_baseline', 'yolov3_mobilenet_v1_608_r578@32_int8', 'yolov3_mobilenet_v1_320_r578@32_int8'):
    for t in (1, 2):
        p = op_profile(sys.argv[1].rstrip('/') + '/' + row, threads=t, warmup=5, passes=10)
        out['%s_t%d' % (row, t)] = p
        print(row, t, 'pass %.2f whole %.2f/%.2f' % (p['pass_ms'], p['whole_pass_ms']['fastest'], p['whole_pass_ms']['median']),
              {k: round(v, 2) for k, v in p['parts_ms'].items()}, p['top_other_ops'][:4], flush=True)
json.dump(out, open(sys.argv[2], 'w'), indent=1)
