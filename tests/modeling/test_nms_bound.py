"""MultiClassNMS.pre_nms_top_k: a random-head (low-confidence) model sends at most
``pre_nms_top_k`` (box, class) pairs into NMS, and exactly the best ones."""
import os

import numpy as np
import paddle
import pytest

from ppdet.modeling.post_process import MultiClassNMS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIZE = 320


def _random_head_yolov3(extra=()):
    """The full-size config (80 classes, its own pre_nms_top_k) with a thin random backbone."""
    import ppdet.modeling  # noqa: F401
    from ppdet.core.workspace import create, load_config
    cfg = load_config(os.path.join(ROOT, 'configs', 'yolov3_mobilenet_v1.yml'),
                      overrides=['MobileNetV1.scale=0.25', 'YOLOv3FPN.base_channel=32',
                                 'TestReader.inputs_def.image_shape=[3,%d,%d]' % (SIZE, SIZE)]
                      + list(extra))
    cfg['TestReader']['sample_transforms'][1]['Resize']['target_size'] = [SIZE, SIZE]
    paddle.seed(0)
    model = create(cfg['architecture'], cfg)
    model.eval()
    return model, cfg


def _pairs_above(scores, thr):
    return int((scores.numpy() > thr).sum())


def test_random_head_candidates_are_capped():
    model, _ = _random_head_yolov3()
    nms = model.post_process_op.nms
    assert nms.pre_nms_top_k == 1000 and nms.nms_top_k == 1000   # from the full-size config
    im = paddle.to_tensor(np.random.RandomState(0).rand(1, 3, SIZE, SIZE).astype('float32'))
    shape = paddle.to_tensor([[SIZE, SIZE]], 'float32')
    with paddle.no_grad():
        boxes, scores = model.decode(model(im), shape, paddle.ones([1, 2]))
        before = _pairs_above(scores, nms.score_threshold)
        # per-class nms_top_k alone would let 80 x 1000 pairs through
        assert before > 50000, before
        bb, bs = nms.bound_candidates(boxes, scores)
        after = _pairs_above(bs, nms.score_threshold)
        assert bb.shape == [1, 1000, 4] and bs.shape == [1, 80, 1000]
        assert 0 < after <= 1000 + 5   # + ties at the floor
        # exactly the 1000 best pairs of the image
        top = np.sort(scores.numpy().ravel())[::-1][:1000]
        kept = np.sort(bs.numpy()[bs.numpy() > 0])[::-1]
        np.testing.assert_allclose(kept[:1000], top, rtol=0, atol=0)
        bbox, num = model.post_process(model(im), shape, paddle.ones([1, 2]))
        assert int(num[0]) == 100  # keep_top_k


def test_off_and_small_inputs_are_left_alone():
    boxes, scores = paddle.rand([2, 50, 4]), paddle.rand([2, 3, 50])
    for k in (0, 50, 100):
        b, s = MultiClassNMS(pre_nms_top_k=k).bound_candidates(boxes, scores)
        assert b is boxes and s is scores


@pytest.mark.parametrize('run_mode', ['paddle', 'onnx'])
def test_bound_in_the_exported_graph(tmp_path, run_mode):
    """The bound traces into the static graph (topk, take_along_axis, where) and runs, on
    Paddle Inference and through paddle2onnx on onnxruntime."""
    if run_mode == 'onnx':
        pytest.importorskip('paddle2onnx')
    from ppdet.deploy import create_predictor
    from ppdet.engine.export import export_model
    model, cfg = _random_head_yolov3(['num_classes=3', 'MultiClassNMS.pre_nms_top_k=50'])
    export_model(model, cfg, str(tmp_path / 'm'), ['a', 'b', 'c'])
    rgb = np.random.RandomState(1).randint(0, 255, (SIZE, SIZE, 3)).astype('uint8')
    from ppdet.deploy import Preprocessor, load_infer_cfg
    feeds = Preprocessor(load_infer_cfg(str(tmp_path / 'm')))([rgb])
    out = create_predictor(str(tmp_path / 'm'), run_mode).run(feeds)
    with paddle.no_grad():
        ref, ref_num = model.post_process(model(paddle.to_tensor(feeds['image'])),
                                          paddle.to_tensor(feeds['im_shape']),
                                          paddle.to_tensor(feeds['scale_factor']))
    assert 0 < int(out['bbox_num'][0]) <= 50
    assert int(out['bbox_num'][0]) == int(ref_num[0])
    np.testing.assert_allclose(np.sort(out['bbox'][:, 1]), np.sort(ref.numpy()[:, 1]),
                               atol=1e-4)


def test_rows_path_equals_the_class_major_path_without_the_big_transpose(tmp_path):
    """YOLOv3's post-process bounds the candidates on yolo_box's own [B,N,C] rows: the same
    detections as bounding the [B,C,N] scores, and the exported graph transposes only the
    bounded [B,C,K] scores (the [B,C,N] path transposed all N x C twice: ~25 ms at 608)."""
    model, cfg = _random_head_yolov3()
    post = model.post_process_op
    im = paddle.to_tensor(np.random.RandomState(2).rand(1, 3, SIZE, SIZE).astype('float32'))
    shape, scale = paddle.to_tensor([[SIZE, SIZE]], 'float32'), paddle.ones([1, 2])
    with paddle.no_grad():
        outs = model(im)
        boxes, rows = post.decode.decode_rows(outs, model.yolo_head.mask_anchors, shape, scale)
        n = boxes.shape[1]
        assert rows.shape == [1, n, 80] and n > post.nms.pre_nms_top_k
        via_rows = post.nms.nms_rows(boxes, rows)
        via_classes = post.nms(*post.decode(outs, model.yolo_head.mask_anchors, shape, scale))
        bound_rows = post.nms.bound_rows(boxes, rows)
        bound_classes = post.nms.bound_candidates(boxes, rows.transpose([0, 2, 1]))
    for a, b in zip(via_rows + bound_rows, via_classes + bound_classes):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert int(via_rows[1][0]) == 100
    from ppdet.engine.export import export_model
    export_model(model, cfg, str(tmp_path / 'm'), ['c%d' % i for i in range(80)])
    from ppdet.utils.static_graph import load_program
    block = load_program(tmp_path / 'm')[0].global_block()
    transposed = [list(block.var(op.input('X')[0]).shape) for op in block.ops
                  if op.type == 'transpose2']
    assert transposed == [[-1, 1000, 80]], transposed


@pytest.mark.parametrize('config', ['retinanet/retinanet_r50_fpn_1x_coco.yml',
                                    'fcos/fcos_r50_fpn_1x_coco.yml'])
def test_dense_families_bound_their_rows_without_the_big_transpose(config, tmp_path):
    """RetinaNet and FCOS decode a row of class scores per box (``decode_rows``), and their
    post-process bounds those rows: the same detections as the [B,C,N] path, and the
    exported graph transposes only the bounded [B,K,C] scores (RetinaNet at 800: two
    transposes of 120087 x 80 scores, 25 ms a pass, before)."""
    import ppdet.modeling  # noqa: F401
    from ppdet.benchmark.full_size import load_full_size
    from ppdet.core.workspace import create
    from ppdet.engine.export import export_model
    from ppdet.utils.static_graph import load_program
    size = 256
    cfg = load_full_size(os.path.join(ROOT, 'configs', config), size)
    paddle.seed(0)
    model = create(cfg['architecture'], cfg)
    model.eval()
    im = paddle.to_tensor(np.random.RandomState(0).rand(1, 3, size, size).astype('float32'))
    shape, scale = paddle.to_tensor([[size, size]], 'float32'), paddle.ones([1, 2])
    with paddle.no_grad():
        outs = model(im)
        boxes, rows = model.decode_rows(outs, shape, scale)
        n, k = boxes.shape[1], model.nms.pre_nms_top_k
        assert rows.shape == [1, n, 80] and n > k == 1000
        # a threshold the random head's top 10% pass: the bound is at work
        model.nms.score_threshold = float(np.quantile(rows.numpy(), 0.9))
        assert _pairs_above(rows, model.nms.score_threshold) > k
        via_rows = model.post_process(outs, shape, scale)
        via_classes = model.nms(*model.decode(outs, shape, scale))
    for a, b in zip(via_rows, via_classes):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert int(via_rows[1][0]) == 100
    export_model(model, cfg, str(tmp_path / 'm'), ['c%d' % i for i in range(80)])
    block = load_program(tmp_path / 'm')[0].global_block()
    transposed = [list(block.var(op.input('X')[0]).shape) for op in block.ops
                  if op.type == 'transpose2' and len(block.var(op.input('X')[0]).shape) == 3]
    assert transposed == [[-1, 1000, 80]], transposed
