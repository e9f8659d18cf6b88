"""Verbose oneDNN primitives of a model's last pass (the tail): python verbose_tail.py MODEL_DIR"""
import sys
from ppdet.benchmark.onednn_ops import profile_records
recs = profile_records(sys.argv[1], passes=5)
print(type(recs), len(recs))
# print in order the last records (after convs)
for r in recs[-40:]:
    print(r)
