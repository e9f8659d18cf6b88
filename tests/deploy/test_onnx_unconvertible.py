"""convert_to_onnx refuses a model paddle2onnx 1.3.1 would abort on (deformable convs):
checked by op type before paddle2onnx runs, since its abort kills the process."""
import os

import paddle
import paddle.nn as nn
import pytest

from ppdet.deploy.onnx import convert_to_onnx, unconvertible_ops


class DeformNet(nn.Layer):
    """DCNv2 (with a mask: deformable_conv, as in YOLOv3-R50vd-DCN) or v1 (no mask)."""

    def __init__(self, mask=True):
        super().__init__()
        self.mask = mask
        self.offset = nn.Conv2D(3, 27 if mask else 18, 3, padding=1)
        self.dcn = paddle.vision.ops.DeformConv2D(3, 4, 3, padding=1)

    def forward(self, image):
        out = self.offset(image)
        if self.mask:
            return self.dcn(image, out[:, :18], paddle.nn.functional.sigmoid(out[:, 18:]))
        return self.dcn(image, out)


@pytest.mark.parametrize('mask,op', [(True, 'deformable_conv'), (False, 'deformable_conv_v1')])
def test_deformable_conv_is_refused_before_paddle2onnx(tmp_path, mask, op):
    pytest.importorskip('paddle2onnx')
    model = DeformNet(mask)
    model.eval()
    static = paddle.jit.to_static(
        model, input_spec=[paddle.static.InputSpec([1, 3, 16, 16], 'float32', 'image')],
        full_graph=True)
    paddle.jit.save(static, str(tmp_path / 'model'))
    (tmp_path / 'infer_cfg.yml').write_text('Preprocess: []\n')
    assert list(unconvertible_ops(str(tmp_path / 'model.pdmodel'))) == [op]
    with pytest.raises(ValueError, match='cannot be converted to ONNX: %s ' % op):
        convert_to_onnx(str(tmp_path))
    assert not os.path.exists(str(tmp_path / 'model.onnx'))


def test_a_ptq_int8_export_is_refused_before_paddle2onnx(yolov3_int8_dir):
    """A post_quant.py export holds Paddle's fake quantize ops: paddle2onnx aborted the
    whole process on them (SIGABRT of eval.py / infer.py --run_mode onnx); refused first."""
    pytest.importorskip('paddle2onnx')
    bad = unconvertible_ops(os.path.join(yolov3_int8_dir, 'model.pdmodel'))
    assert bad and all('PTQ int8 graph' in why for why in bad.values())
    assert 'fake_quantize_range_abs_max' in bad
    with pytest.raises(ValueError, match=r'cannot be converted to ONNX: .*fake_quantize_range_abs_max'
                                         r'.*\(a Paddle PTQ int8 graph: .*--run_mode paddle'):
        convert_to_onnx(yolov3_int8_dir, save_file=os.path.join(yolov3_int8_dir, 'x.onnx'))
