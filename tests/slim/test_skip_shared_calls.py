"""``--skip_layers`` takes the ``layer@k`` names the per-layer report prints for a conv that
runs several times with one weight (a dense head's tower conv, once per FPN level): they
were refused as unknown layers.  One weight serves every call, and PaddleSlim keeps convs in
fp32 by weight, so every call of that conv stays fp32."""
import os
import sys

import paddle
import paddle.nn as nn
import pytest

from ppdet.deploy.infer_cfg import write_param_names
from ppdet.slim.quant import (calibration_feeds, quantize_post, resolve_skip_layers,
                              stack_feeds)
from ppdet.slim.quant_report import layer_report

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'deploy'))
from deploy_models import TinyDetector, save_tiny_export  # noqa: E402
from test_quant import images  # noqa: E402


class _SharedTwice(nn.Layer):
    """The body, then one conv run twice with its one weight (a tower conv over two
    levels)."""

    def __init__(self, body):
        super().__init__()
        self.body = body
        self.shared = nn.Conv2D(16, 16, 3, padding=1)

    def forward(self, x):
        return self.shared(nn.functional.relu(self.shared(self.body(x))))


class SharedConvDetector(TinyDetector):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.body = _SharedTwice(self.body)


@pytest.fixture(scope='module')
def fp32(tmp_path_factory):
    d = tmp_path_factory.mktemp('shared_conv')
    paddle.seed(0)
    model = SharedConvDetector()
    out = save_tiny_export(model, str(d / 'fp32'))
    write_param_names(model, out)
    return out


def test_report_names_of_a_shared_conv_are_taken(fp32, tmp_path, ppdet_log):
    int8 = quantize_post(fp32, images(2), str(tmp_path / 'int8'), algo='abs_max',
                         batch_nums=2, onnx_format=False)
    feeds = stack_feeds(calibration_feeds(fp32, images(1, seed=3)))
    layers = [r['layer'] for r in layer_report(fp32, int8, feeds)]
    assert {'body.shared@0', 'body.shared@1'} <= set(layers), layers   # what the report prints
    weight = resolve_skip_layers(fp32, 'body.shared')
    assert len(weight) == 1
    assert resolve_skip_layers(fp32, 'body.shared@1') == weight
    assert 'body.shared@1: the calls of body.shared share one weight, so all of them stay in fp32' \
        in ppdet_log.text
    kept = quantize_post(fp32, images(2), str(tmp_path / 'skip'), algo='abs_max', batch_nums=2,
                         onnx_format=False, skip_tensors='body.shared@0')
    layers = {r['layer']: r['quantized'] for r in layer_report(fp32, kept, feeds)}
    assert layers['body.shared@0'] is False and layers['body.shared@1'] is False
    assert layers['body.body.2'] is True


def test_a_typo_before_the_call_number_is_still_refused(fp32):
    with pytest.raises(ValueError, match=r"unknown layer 'body.sharde@1' to keep in fp32; "
                                         r"did you mean 'body.shared'"):
        resolve_skip_layers(fp32, 'body.sharde@1')
