"""Helpers shared by the quantization and distillation tests (a unique module name: every
test folder has a conftest.py, so "from conftest import" is ambiguous)."""
import os

import numpy as np

from ppdet.deploy.predictors import run_paddle


def paddle_predict(model_dir, feeds, int8=False):
    """Run an exported model directory in Paddle Inference as it is deployed (CPU, oneDNN,
    1 thread: :func:`ppdet.deploy.predictors.paddle_cpu_config`)."""
    from paddle import inference
    from ppdet.deploy.predictors import paddle_cpu_config
    config = paddle_cpu_config(os.path.join(model_dir, 'model.pdmodel'),
                               os.path.join(model_dir, 'model.pdiparams'),
                               enable_mkldnn_int8=int8)
    pred = inference.create_predictor(config)
    return run_paddle(pred, {n: feeds[n] for n in pred.get_input_names()})


def cos(a, b):
    a, b = np.ravel(a).astype('float64'), np.ravel(b).astype('float64')
    return float(a.dot(b) / (np.linalg.norm(a) * np.linalg.norm(b)))
