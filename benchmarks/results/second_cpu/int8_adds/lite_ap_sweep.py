"""Deployed WIDER FACE AP (Easy / Medium / Hard, Paddle oneDNN int8) of the built-in
BlazeFace-Lite (tools/pipeline.py --model blazeface --stages data lite:train, 10 epochs at 320)
quantized with and without its residual adds, per PTQ algorithm, calibrated on the first
CALIB TrainDataset images as the face job does.  ``--outputs``: only the builds with the
residual adds, each with the declared float-only output convs quantized too.  Usage:
python lite_ap_sweep.py [--outputs] WORK_DIR [CALIB [ALGO,...]]"""
import os
import sys

from ppdet.benchmark.cpu import cpu_description
from ppdet.engine.infer_eval import evaluate_exported
from ppdet.pipeline.face_job import LITE_CONFIG, FacePipeline
from ppdet.slim.quant import calibration_images, quantize_post

args = sys.argv[1:]
outputs = args[0] == '--outputs'
args = args[1:] if outputs else args
work = args[0]
calib_n = int(args[1]) if len(args) > 1 else 16
algos = args[2].split(',') if len(args) > 2 else ['abs_max', 'hist', 'KL', 'mse']
pipe = FacePipeline(work_dir=work)
cfg = pipe.cfg(config=LITE_CONFIG)
fp32 = os.path.join(work, 'inference', 'lite')
calib = calibration_images(cfg, calib_n)
print('CPU:', cpu_description())


def scores(model_dir):
    res = evaluate_exported(cfg, model_dir)
    return ' / '.join('%.4f' % res[k] for k in ('Easy', 'Medium', 'Hard'))


print('fp32', scores(fp32))
for algo in algos:
    for adds in ((True,) if outputs else (False, True)):
        out = os.path.join(work, 'sweep', 'lite_%s_c%d%s%s' % (
            algo, calib_n, '_adds' if adds else '', '_outputs' if outputs else ''))
        quantize_post(fp32, calib, out, algo=algo, batch_nums=len(calib),
                      calibration_source='TrainDataset', quantize_residual_adds=adds,
                      quantize_float_only=outputs)
        print('%-8s calib %d residual adds %-5s' % (algo, calib_n, adds) +
              (', output convs int8' if outputs else ''), scores(out), flush=True)
