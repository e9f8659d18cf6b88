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


def test_onnx_run_mode_on_a_ptq_dir_runs_the_int8_model_bench_wrote(
        yolov3_model_dir, yolov3_int8_dir, images, tmp_path):
    """post_quant.py --bench (compare_int8) writes onnxruntime's int8 model of the fp32 one
    into the int8 dir (model_int8.onnx); the onnx run mode on that dir refused the PTQ graph
    and never used it.  It now runs it; once the dir holds another model it is not used,
    and a new PTQ run into the dir removes it."""
    import shutil
    from ppdet.deploy import Preprocessor, create_predictor, load_infer_cfg, match_batch
    from ppdet.deploy.onnx import ONNX_INT8_FILE
    from ppdet.slim.quant import remove_stale_reports
    from ppdet.slim.quant_report import compare_int8
    pytest.importorskip('paddle2onnx')
    int8 = str(tmp_path / 'int8')
    shutil.copytree(yolov3_int8_dir, int8)
    compare_int8(yolov3_model_dir, int8, images, runtimes=('onnx',), time_it=False)
    written = os.path.join(int8, ONNX_INT8_FILE)
    predictor = create_predictor(int8, 'onnx')
    assert predictor.onnx_file == written
    inputs = Preprocessor(load_infer_cfg(int8))(images[:1])
    ref = create_predictor(yolov3_model_dir, 'onnx', onnx_file=written).run(inputs)
    assert match_batch(ref, predictor.run(inputs))['matched_fraction'] == 1.0
    from ppdet.slim.quant import quantize_post
    other = quantize_post(yolov3_model_dir, images, str(tmp_path / 'other'), algo='hist',
                          batch_nums=3)
    for name in ('model.pdmodel', 'model.pdiparams'):     # another model copied in
        shutil.copyfile(os.path.join(other, name), os.path.join(int8, name))
    with pytest.raises(ValueError, match=r'PTQ int8 graph: .*post_quant.py --bench also writes '
                                         r"onnxruntime's int8 model of it here, model_int8.onnx"):
        create_predictor(int8, 'onnx')
    assert ONNX_INT8_FILE in remove_stale_reports(int8)
    assert not os.path.exists(written)
