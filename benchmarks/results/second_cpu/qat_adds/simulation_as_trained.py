"""QAT exports evaluated three ways on the built-in face set (Easy / Medium / Hard): the
export run in float as saved (with the output-scale quantize/dequantize pairs Paddle's save
adds), the same without them (ppdet.slim.qat_simulation: what the QAT model computed, what
evaluate_exported(simulate=True) now runs) and deployed (Paddle oneDNN int8); with the
detection agreement of each simulation with the deployment.
Usage: python simulation_as_trained.py CONFIG MODEL_DIR ..."""
import contextlib
import sys
from unittest import mock

from ppdet.core.workspace import load_config
from ppdet.deploy.compare import detection_agreement
from ppdet.engine.infer_eval import evaluate_exported

cfg = load_config(sys.argv[1])


@contextlib.contextmanager
def as_saved(model_dir):
    """In place of trained_simulation: the directory as it is."""
    yield model_dir


def line(res):
    """Easy / Medium / Hard on a face set, AP / AP50 on COCO."""
    keys = [k for k in ('Easy', 'Medium', 'Hard', 'AP', 'AP50') if k in res]
    return ' / '.join('%s %.4f' % (k, res[k]) for k in keys)


for model_dir in sys.argv[2:]:
    deployed_out = []
    deployed = evaluate_exported(cfg, model_dir, outputs=deployed_out)
    print(model_dir, flush=True)
    print('  deployed             %s' % line(deployed), flush=True)
    for label in ('as saved', 'as trained'):
        outs = []
        patch = mock.patch('ppdet.slim.qat_simulation.trained_simulation', as_saved) \
            if label == 'as saved' else contextlib.nullcontext()
        with patch:
            res = evaluate_exported(cfg, model_dir, simulate=True, outputs=outs)
        agree = detection_agreement(outs, deployed_out)['matched_fraction']
        print('  simulated %-10s %s  agreement with deployed %.1f%%' % (
            label, line(res), 100 * agree), flush=True)
