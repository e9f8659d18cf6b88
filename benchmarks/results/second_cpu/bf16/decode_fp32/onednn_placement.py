"""oneDNN primitives of a bf16 predictor: Paddle's placement vs the network-only marks."""
import sys
from ppdet.benchmark.onednn_ops import timed_pass_records, summarize, format_summary
from ppdet.benchmark.cpu import cpu_description
from ppdet.utils.fileio import read_json
CHILD = r'''
import sys
import ppdet.deploy.onednn_bf16 as B, ppdet.deploy.predictors as P
from ppdet.deploy import Detector
from ppdet.data.sample_photos import face_photos
if sys.argv[2] == 'paddle':
    B.mark_network_bf16 = lambda b: 0; B.PLACEMENT_OFF = set(); P._require_bf16_marks = lambda f: None
det = Detector(sys.argv[1], 'paddle', cpu_threads=1, enable_mkldnn_bfloat16=True)
image = face_photos()['astronaut']
det.warm_up([image], 3)
for _ in range(5):
    print('=== timed pass ===', flush=True)
    det.predict([image])
'''
print('CPU:', cpu_description())
work, name = sys.argv[1].split(':')
row = read_json(work + '/manifest.json')['rows'][name]
for mode in ('paddle', 'network'):
    s = summarize(timed_pass_records(CHILD, [row['dir'], mode], name))
    print(format_summary('%s, bf16 with %s' % (name, 'Paddle placement' if mode == 'paddle' else 'network-only marks'), s))
    print()
