"""The ops of an exported model after its last conv (the decoding and NMS), each at its fastest
of 5 passes (ppdet.benchmark.op_profile: Paddle profiler, 1 thread, the astronaut photo).
Usage: python ops_after_convs.py MODEL_DIR"""
import sys

from ppdet.benchmark.op_profile import op_profile

profile = op_profile(sys.argv[1])
print('after last conv:')
for op, ms in profile['after_convs_each']:
    print('  %-28s %.3f' % (op, ms))
print('after total %.2f ms' % sum(ms for _, ms in profile['after_convs_each']))
print('pass', profile['whole_pass_ms'])
