"""The deployed per-layer report on a quantized conv with no BN or bias after it (FCOS /
RetinaNet tower convs, BlazeFace depthwise convs): the simulation's output of such a conv
is the dequantize op's output, not the conv's raw (int-scaled) output it consumes."""
import os
import sys

import paddle
import paddle.nn as nn
import pytest

from ppdet.slim.quant import calibration_feeds, quantize_post, stack_feeds
from ppdet.slim.quant_report import (deployed_layer_report, layer_outputs, layer_report,
                                     load_program)
from ppdet.utils.static_graph import op_consumers

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'deploy'))
from deploy_models import TinyDetector, save_tiny_export  # noqa: E402
from test_quant import images  # noqa: E402

DEQUANT = ('fake_dequantize_max_abs', 'fake_channel_wise_dequantize_max_abs',
           'dequantize_linear')


class NoBiasTowerDetector(TinyDetector):
    """Two bias-free convs straight into the next conv (a shared-tower conv's pattern)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.body = nn.Sequential(
            nn.Conv2D(3, 8, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2D(8, 16, 3, stride=2, padding=1, bias_attr=False),
            nn.Conv2D(16, 16, 3, stride=2, padding=1, bias_attr=False), nn.ReLU())


@pytest.fixture(scope='module')
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp('no_bias_conv')
    paddle.seed(0)
    fp32 = save_tiny_export(NoBiasTowerDetector(), str(d / 'fp32'))
    int8 = quantize_post(fp32, images(4), str(d / 'int8'), algo='abs_max', batch_nums=4,
                         onnx_format=False)
    return fp32, int8


def test_the_no_bias_conv_output_feeds_a_dequantize_op(models):
    """The case under test exists: a layer output of the simulated graph is read by a
    dequantize op (the raw conv output, int-scaled)."""
    prog = load_program(models[1])[0]
    consumers = op_consumers(prog.global_block())
    raw = [v for _, _, v in layer_outputs(prog)
           if any(c.type in DEQUANT for c in consumers.get(v, []))]
    assert raw == ['conv2d_1.tmp_0'], raw  # the first bias-free conv


def test_deployed_report_reads_the_dequantized_simulation(models):
    fp32, int8 = models
    feeds = stack_feeds(calibration_feeds(fp32, images(2, seed=5)))
    report = deployed_layer_report(fp32, int8, feeds)
    simulated = {r['weight']: r for r in layer_report(fp32, int8, feeds)}
    prog = load_program(int8)[0]
    consumers = op_consumers(prog.global_block())
    raw = {v for _, _, v in layer_outputs(prog)
           if any(c.type in DEQUANT for c in consumers.get(v, []))}
    rows = [r for r in report['rows'] if r['output'] in raw and r['quantized']]
    assert len(rows) == 1
    for r in rows:
        sim = r['sim_vs_fp32']['snr_db']
        assert sim > 20 and r['sim_vs_fp32']['cosine'] > 0.99, r
        # the same simulation quant_report.md measures (accumulated: the whole int8 graph)
        assert abs(sim - simulated[r['weight']]['accumulated']['snr_db']) < 6, (
            r, simulated[r['weight']])
        # and the deployment agrees with it
        assert r['deployed_vs_sim']['snr_db'] > 20, r
