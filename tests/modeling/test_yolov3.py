import os

import numpy as np
import paddle
import pytest

from ppdet.core.workspace import create, load_config
from ppdet.modeling.losses.yolo_loss import build_yolo_targets

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEED_KS = ['0.0', '0.1', '1.0', '1.1', '2', 'tip']


def test_forward_shapes(make_tiny):
    model = make_tiny()
    model.eval()
    outs = model(paddle.zeros([2, 3, 128, 96]))
    assert [list(o.shape) for o in outs] == [[2, 24, 4, 3], [2, 24, 8, 6], [2, 24, 16, 12]]


def test_state_dict_uses_paddledetection_2x_names(make_tiny):
    keys = set(make_tiny().state_dict())
    for k in ['backbone.conv1._conv.weight',
              'neck.yolo_block.0.conv_module.conv0.conv.weight',
              'neck.yolo_block.0.conv_module.route.batch_norm._mean',
              'neck.yolo_block.2.tip.conv.weight',
              'neck.yolo_transition.1.conv.weight',
              'yolo_head.yolo_output.0.weight', 'yolo_head.yolo_output.2.bias']:
        assert k in keys, k


def _train(model, batch, steps=6, lr=1e-2):
    opt = paddle.optimizer.Adam(learning_rate=lr, parameters=model.parameters())
    model.train()
    history = []
    for _ in range(steps):
        losses = model.get_loss(model(batch['image']), batch)
        history.append({k: float(v) for k, v in losses.items()})
        losses['loss'].backward()
        opt.step()
        opt.clear_grad()
    return history


def test_fused_loss_finite_and_decreases(make_tiny, batch):
    hist = _train(make_tiny(), batch)
    assert set(hist[0]) == {'loss', 'loss_level0', 'loss_level1', 'loss_level2'}
    assert all(np.isfinite(h['loss']) for h in hist)
    assert hist[-1]['loss'] < 0.7 * hist[0]['loss']


def test_fine_grained_loss_parts_and_decrease(make_tiny, batch):
    model = make_tiny(YOLOv3Loss={'fine_grained': True})
    hist = _train(model, batch)
    assert set(hist[0]) == {'loss', 'loss_xy', 'loss_wh', 'loss_obj', 'loss_cls'}
    assert all(np.isfinite(v) for h in hist for v in h.values())
    assert abs(hist[0]['loss'] - sum(hist[0][k] for k in ['loss_xy', 'loss_wh', 'loss_obj',
                                                           'loss_cls'])) < 1e-3 * hist[0]['loss']
    assert hist[-1]['loss'] < 0.7 * hist[0]['loss']
    terms = model.yolo_head.loss.level_terms(model(batch['image']), batch,
                                             model.yolo_head.anchors, model.yolo_head.anchor_masks)
    assert len(terms) == 3 and set(terms[0]) == {'loss_xy', 'loss_wh', 'loss_obj', 'loss_cls'}


def test_fine_grained_loss_agrees_with_fused_op(make_tiny, batch):
    # same weights, two implementations of the same YOLOv3 loss
    fused = make_tiny()
    fine = make_tiny(YOLOv3Loss={'fine_grained': True})
    fine.set_state_dict(fused.state_dict())
    fused.eval()
    fine.eval()
    with paddle.no_grad():
        a = float(fused.get_loss(fused(batch['image']), batch)['loss'])
        b = float(fine.get_loss(fine(batch['image']), batch)['loss'])
    assert abs(a - b) < 0.02 * a, (a, b)


def test_fine_grained_selected_by_top_level_key(make_tiny):
    assert make_tiny(use_fine_grained_loss=True).yolo_head.loss.fine_grained
    assert not make_tiny().yolo_head.loss.fine_grained


def test_targets_put_box_in_its_cell_and_best_anchor():
    anchors = [[10, 13], [16, 30], [33, 23], [30, 61], [62, 45], [59, 119],
               [116, 90], [156, 198], [373, 326]]
    masks = [[6, 7, 8], [3, 4, 5], [0, 1, 2]]
    # a 64x48 box centred at (100, 40) in a 128x128 image: best anchor 4 (62x45), stride 16
    gt = np.array([[[100 / 128., 40 / 128., 64 / 128., 48 / 128.], [0, 0, 0, 0]]], 'float32')
    t = build_yolo_targets(gt, np.array([[2, 0]]), None, anchors, masks,
                           [(4, 4), (8, 8), (16, 16)], (128, 128), 3)
    assert t[0].sum() == 0 and t[2].sum() == 0
    cell = t[1][0, 1, :, 2, 6]  # anchor 4 is index 1 of mask [3,4,5]; cell (y=40//16, x=100//16)
    np.testing.assert_allclose(cell[:2], [100 / 16. - 6, 40 / 16. - 2], atol=1e-6)
    np.testing.assert_allclose(cell[2:4], np.log([64 / 62., 48 / 45.]), atol=1e-6)
    assert cell[5] == 1 and cell[6 + 2] == 1 and cell[6:].sum() == 1


def _head_maps(num_classes, grids, cell, anchor_idx, cls):
    """Raw head maps that say: one box at ``cell`` of level 0, anchor size, class ``cls``."""
    outs = []
    for lvl, (h, w) in enumerate(grids):
        o = np.zeros([1, 3, 5 + num_classes, h, w], 'float32')
        o[:, :, 4] = -20.  # no object anywhere ...
        o[:, :, 5:] = -20.
        if lvl == 0:
            gy, gx = cell
            o[0, anchor_idx, 4, gy, gx] = 20.  # ... except here
            o[0, anchor_idx, 5 + cls, gy, gx] = 20.
        outs.append(paddle.to_tensor(o.reshape([1, -1, h, w])))
    return outs


def test_post_process_returns_original_pixel_boxes(make_tiny):
    model = make_tiny()
    # input 128x128, original image 256 (h) x 512 (w): scale_factor (0.5, 0.25)
    outs = _head_maps(3, [(4, 4), (8, 8), (16, 16)], cell=(1, 2), anchor_idx=0, cls=1)
    bbox, bbox_num = model.post_process(outs, paddle.to_tensor([[128., 128.]]),
                                        paddle.to_tensor([[0.5, 0.25]]))
    assert bbox_num.numpy().tolist() == [1]
    cls, score, x1, y1, x2, y2 = bbox.numpy()[0]
    # centre of cell (x=2, y=1) at stride 32 = (80, 48) input px; anchor 116x90 (mask [6,7,8][0])
    cx, cy, w, h = 80 * 4, 48 * 2, 116 * 4, 90 * 2
    assert cls == 1 and score > 0.99
    np.testing.assert_allclose([x1, y1, y2], [cx - w / 2, cy - h / 2, cy + h / 2], atol=0.05)
    assert abs(x2 - 511) < 1e-3  # clipped to the original width - 1


def test_post_process_nothing_detected_gives_zero_rows(make_tiny):
    model = make_tiny()
    outs = [paddle.full([2, 24, s, s], -20.) for s in (4, 8, 16)]
    bbox, bbox_num = model.post_process(outs, paddle.to_tensor([[128., 128.]] * 2),
                                        paddle.to_tensor([[1., 1.]] * 2))
    assert list(bbox.shape) == [0, 6]
    assert bbox_num.numpy().tolist() == [0, 0]


def test_decode_scales_to_original_size_and_clips(make_tiny, batch):
    model = make_tiny(YOLOBox={'clip_bbox': False})
    model.eval()
    with paddle.no_grad():
        outs = model(batch['image'][:1])
    decode, anchors = model.post_process_op.decode, model.yolo_head.mask_anchors
    im_shape = paddle.to_tensor([[128., 128.]])
    small, s_scores = decode(outs, anchors, im_shape, paddle.to_tensor([[1., 1.]]))
    big, b_scores = decode(outs, anchors, im_shape, paddle.to_tensor([[0.5, 0.25]]))
    assert list(small.shape) == [1, 3 * (16 + 64 + 256), 4]
    assert list(s_scores.shape) == [1, 3, 3 * (16 + 64 + 256)]
    np.testing.assert_allclose(big.numpy(), small.numpy() * [4, 2, 4, 2], rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose(b_scores.numpy(), s_scores.numpy(), rtol=1e-6)
    decode.clip_bbox = True
    big, _ = decode(outs, anchors, im_shape, paddle.to_tensor([[0.5, 0.25]]))
    big = big.numpy()[0]
    assert (big >= 0).all() and (big[:, [0, 2]] <= 511).all() and (big[:, [1, 3]] <= 255).all()
    bbox, bbox_num = model.post_process(outs, im_shape, paddle.to_tensor([[0.5, 0.25]]))
    assert bbox.shape[0] == int(bbox_num.sum()) <= 20  # keep_top_k of the tiny config


def test_prunable_params_seed_names_and_widths():
    cfg = load_config(os.path.join(ROOT, 'configs', 'yolov3_mobilenet_v1.yml'))
    model = create(cfg['architecture'], cfg)
    params = model.prunable_params()
    assert list(params) == ['yolo_block.%d.%s.conv.weights' % (i, k)
                            for i in range(3) for k in SEED_KS]
    for i, c in enumerate([512, 256, 128]):
        shapes = [list(params['yolo_block.%d.%s.conv.weights' % (i, k)].shape) for k in SEED_KS]
        assert [s[0] for s in shapes] == [c, 2 * c, c, 2 * c, c, 2 * c]
        assert [s[2] for s in shapes] == [1, 3, 1, 3, 1, 3]
    assert shapes[0][1] == 256 + 128  # level 2: transition (128) concatenated with stride-8 map
    key = {id(p): n for n, p in model.named_parameters()}
    params = model.prunable_params()
    assert key[id(params['yolo_block.0.2.conv.weights'])] == \
        'neck.yolo_block.0.conv_module.route.conv.weight'
    assert key[id(params['yolo_block.2.tip.conv.weights'])] == 'neck.yolo_block.2.tip.conv.weight'
    # the output convs are declared float-only and distilled, never prunable
    assert model.float_only_layers() == ['yolo_head.yolo_output.%d' % i for i in range(3)]
    assert model.distill_outputs() == model.float_only_layers()
    assert not any('yolo_output' in key[id(p)] for p in params.values())


def test_two_models_in_one_process_exchange_weights_by_name(make_tiny, batch, tmp_path):
    from ppdet.utils.checkpoint import load_weights, save_checkpoint
    a, b = make_tiny(), make_tiny()
    a.eval()
    b.eval()
    path = save_checkpoint(a, str(tmp_path / 'a'))
    report = load_weights(b, path, strict=True)
    assert not report.missing and not report.unexpected and not report.mismatched
    with paddle.no_grad():
        for x, y in zip(a(batch['image']), b(batch['image'])):
            np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('teacher_file,depth,channels', [
    ('yolov3_r18x05_builtin_teacher.yml', 18, [64, 128, 256]),   # the pipeline's teacher
    ('yolov3_r34_builtin_teacher.yml', 34, [48, 96, 192])])
def test_builtin_student_and_teacher_configs_pair_up(teacher_file, depth, channels):
    from ppdet.slim.distill import check_configs_compatible
    from ppdet.utils.model_stats import count_flops
    builtin = os.path.join(ROOT, 'configs', 'builtin')
    student_cfg = load_config(os.path.join(builtin, 'yolov3_r18_builtin.yml'))
    teacher_cfg = load_config(os.path.join(builtin, teacher_file))
    check_configs_compatible(student_cfg, teacher_cfg)
    student, teacher = create('YOLOv3', student_cfg), create('YOLOv3', teacher_cfg)
    assert (student.backbone.depth, teacher.backbone.depth) == (18, depth)
    assert student.backbone.out_channels == [32, 64, 128]
    assert teacher.backbone.out_channels == channels
    assert list(student.prunable_params()) == list(teacher.prunable_params())
    ratio = count_flops(teacher, 192) / count_flops(student, 192)
    assert 2.0 < ratio < 3.0


def test_components_built_for_other_widths_say_which_key_to_drop():
    from ppdet.modeling.heads.yolo_head import YOLOv3Head
    head = YOLOv3Head(num_classes=3, in_channels=[64, 32, 16])
    head.build_layers([64, 32, 16])  # the same widths: nothing to do
    with pytest.raises(ValueError, match=r'YOLOv3Head was built for in_channels \[64, 32, 16\] '
                                         r'but the neck gives \[128, 64, 32\]; drop '
                                         r'YOLOv3Head.in_channels'):
        head.build_layers([128, 64, 32])
