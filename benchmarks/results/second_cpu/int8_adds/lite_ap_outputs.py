"""Deployed WIDER FACE AP of the built-in BlazeFace-Lite with its residual adds AND its output
convs in int8 (mse and hist PTQ, 32 TrainDataset images); run from the repository root after
lite_ap_sweep.py (same work_dir)."""
import os
from ppdet.engine.infer_eval import evaluate_exported
from ppdet.pipeline.face_job import LITE_CONFIG, FacePipeline
from ppdet.slim.quant import calibration_images, quantize_post
work = 'output/adds_face'
cfg = FacePipeline(work_dir=work).cfg(config=LITE_CONFIG)
fp32 = os.path.join(work, 'inference', 'lite')
calib = calibration_images(cfg, 32)
for algo in ('mse', 'hist'):
    out = os.path.join(work, 'sweep', 'lite_%s_c32_adds_outputs' % algo)
    quantize_post(fp32, calib, out, algo=algo, batch_nums=32, calibration_source='TrainDataset',
                  quantize_residual_adds=True, quantize_float_only=True)
    res = evaluate_exported(cfg, out)
    print('%s + residual adds + output convs int8' % algo, ' / '.join('%.4f' % res[k] for k in ('Easy', 'Medium', 'Hard')), flush=True)
