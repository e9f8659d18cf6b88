"""Deployment: run exported models on Paddle Inference, TensorRT, onnxruntime or Paddle-Lite.

Public API::

    from ppdet.deploy import create_predictor, Preprocessor, Detector
    pred = create_predictor('output/inference/m', run_mode='onnx', cpu_threads=2)
    outputs = pred.run(Preprocessor(load_infer_cfg('output/inference/m'))([rgb]))

Backends are imported lazily, so ``import ppdet.deploy`` stays cheap.
"""
from .benchmark import interleaved_latency, speedup_ratios, time_predictor, StageTimer
from .compare import match_batch, match_detections, split_by_image
from .infer_cfg import load_infer_cfg
from .predictors import RUN_MODES, BackendUnavailable, create_predictor
from .preprocess import Preprocessor, decode_image
from .detector import Detector

__all__ = ['create_predictor', 'RUN_MODES', 'BackendUnavailable', 'Preprocessor',
           'decode_image', 'load_infer_cfg', 'Detector', 'time_predictor',
           'interleaved_latency', 'speedup_ratios', 'StageTimer', 'match_detections',
           'match_batch', 'split_by_image']
