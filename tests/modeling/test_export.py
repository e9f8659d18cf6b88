"""jit.to_static + jit.save of the model with NMS inside, run by Paddle Inference."""
import os

import numpy as np
import paddle

from ppdet.deploy.predictors import run_paddle
from ppdet.modeling.architectures import InferenceModel

SPEC = [paddle.static.InputSpec([None, 3, 128, 128], 'float32', name='image'),
        paddle.static.InputSpec([None, 2], 'float32', name='im_shape'),
        paddle.static.InputSpec([None, 2], 'float32', name='scale_factor')]


def _export(model, path, exclude_nms=False):
    model.eval()
    wrapper = InferenceModel(model, exclude_nms=exclude_nms)
    wrapper.eval()
    static = paddle.jit.to_static(wrapper, input_spec=SPEC, full_graph=True)
    paddle.jit.save(static, path)
    return path


def _predict(prefix, feeds):
    from paddle import inference
    config = inference.Config(prefix + '.pdmodel', prefix + '.pdiparams')
    config.disable_gpu()
    config.set_cpu_math_library_num_threads(1)
    predictor = inference.create_predictor(config)
    return run_paddle(predictor, {n: feeds[n] for n in predictor.get_input_names()})


def _feeds(batch):
    return {'image': batch['image'].numpy(),
            'im_shape': np.array([[128., 128.]] * 2, 'float32'),
            'scale_factor': np.array([[0.5, 0.25], [1., 1.]], 'float32')}


def test_exported_model_with_nms_matches_dygraph(make_tiny, batch, tmp_path):
    model = make_tiny()
    model.eval()
    feeds = _feeds(batch)
    with paddle.no_grad():
        ref_bbox, ref_num = InferenceModel(model)(*[paddle.to_tensor(feeds[k]) for k in
                                                    ('image', 'im_shape', 'scale_factor')])
    assert int(ref_num.sum()) > 0
    prefix = _export(model, str(tmp_path / 'model'))
    assert os.path.isfile(prefix + '.pdmodel')
    bbox, bbox_num = _predict(prefix, feeds)
    np.testing.assert_array_equal(bbox_num, ref_num.numpy())
    np.testing.assert_allclose(bbox, ref_bbox.numpy(), rtol=1e-3, atol=1e-2)


def test_exported_model_without_nms(make_tiny, batch, tmp_path):
    model = make_tiny()
    feeds = _feeds(batch)
    prefix = _export(model, str(tmp_path / 'model'), exclude_nms=True)
    boxes, scores = _predict(prefix, feeds)
    with paddle.no_grad():
        ref_boxes, ref_scores = InferenceModel(model, exclude_nms=True)(
            *[paddle.to_tensor(feeds[k]) for k in ('image', 'im_shape', 'scale_factor')])
    assert boxes.shape == (2, 3 * (16 + 64 + 256), 4) and scores.shape == (2, 3, boxes.shape[1])
    np.testing.assert_allclose(boxes, ref_boxes.numpy(), rtol=1e-3, atol=1e-2)
    np.testing.assert_allclose(scores, ref_scores.numpy(), rtol=1e-3, atol=1e-5)


def test_exported_model_with_nothing_detected(make_tiny, batch, tmp_path):
    model = make_tiny(MultiClassNMS={'score_threshold': 1.1})  # nothing can pass
    prefix = _export(model, str(tmp_path / 'model'))
    bbox, bbox_num = _predict(prefix, _feeds(batch))
    assert bbox_num.tolist() == [0, 0]
    assert bbox.shape[0] == 0 or (bbox.size == 0)
