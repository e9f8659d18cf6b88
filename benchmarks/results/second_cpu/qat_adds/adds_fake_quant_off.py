"""Dygraph eval (built-in face set, Easy / Medium / Hard) of QAT checkpoints trained with
quantize_residual_adds: as trained, and with the adds' fake-quantizes switched off at eval
(how much of their AP the rounding at the adds costs at inference, apart from training).
Usage: python adds_fake_quant_off.py CKPT ..."""
import contextlib
import os
import sys

from ppdet.core.workspace import load_config
from ppdet.engine import Trainer
from ppdet.modeling.ops import ResidualAdd
cfg = load_config('configs/face_detection/blazeface_lite_builtin.yml')
for w in sys.argv[1:]:
    for strip in (False, True):
        t = Trainer(cfg, mode='eval')
        t.load_weights(w)
        n = 0
        if strip:
            for _, l in t.model.named_sublayers():
                if isinstance(l, ResidualAdd) and l.input_quanters is not None:
                    l.input_quanters, l.output_quanter, n = None, None, n + 1
        with contextlib.redirect_stdout(open(os.devnull, 'w')):
            res = t.evaluate(output_eval=os.path.join('output', 'adds_fake_quant_off'))
        print(w, 'adds fake-quant off' if strip else 'as trained', n, dict(res), flush=True)
