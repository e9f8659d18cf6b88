import sys, json
from ppdet.benchmark.op_profile import op_profile
for name in sys.argv[1:]:
    p = op_profile('/tmp/i17/work/' + name, passes=7)
    print(name, json.dumps({k: p[k] for k in ('pass_ms','ops','convs_count','parts_ms','top_other_ops','whole_pass_ms','after_convs_each')}, indent=None))
