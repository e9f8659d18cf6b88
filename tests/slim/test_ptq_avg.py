"""avg calibration on an export with a 0-d activation (the NMS candidate bound's batch size:
shape -> slice -> cast -> range): Paddle 2.6.2's sampler failed on it with IndexError."""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'deploy'))
from deploy_models import export_yolov3, synthetic_image  # noqa: E402


@pytest.fixture(scope='module')
def fp32(tmp_path_factory):
    return export_yolov3(str(tmp_path_factory.mktemp('y3')))


def _has_0d_activation(model_dir):
    from ppdet.utils.static_graph import load_program
    prog = load_program(model_dir)[0]
    block = prog.global_block()
    return any(op.type == 'cast' and len(block.var(op.output('Out')[0]).shape) == 0
               for op in block.ops)


def test_avg_calibrates_an_export_with_a_0d_activation(fp32, tmp_path):
    from ppdet.deploy import Detector
    from ppdet.slim.quant import quantize_post
    assert _has_0d_activation(fp32)            # the case under test is there
    images = [synthetic_image(i) for i in range(3)]
    out = quantize_post(fp32, images, str(tmp_path / 'avg'), algo='avg', batch_nums=3)
    results = Detector(out).predict(images[:1])
    assert len(results) == 1


def test_the_patch_is_undone_after_the_block():
    from paddle.static.quantization import post_training_quantization as ptq
    from ppdet.slim.ptq_avg import scalar_safe_avg
    before = ptq.PostTrainingQuantization._sample_avg
    with scalar_safe_avg():
        assert ptq.PostTrainingQuantization._sample_avg is not before
    assert ptq.PostTrainingQuantization._sample_avg is before
