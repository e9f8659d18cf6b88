"""PaddleDetection 2.x weights through configs/_base_/ppdet2x_compat.yml give 2.x's boxes.

The reference is written out in numpy from the definitions (yolo_box decode, then
per-class greedy NMS and keep_top_k), not taken from the code under test.
"""
import os

import numpy as np
import paddle
import pytest
import yaml

from ppdet.core.workspace import create
from ppdet.utils.checkpoint import load_weights

from tiny_yolo import INPUT, NUM_CLASSES, tiny_cfg

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PRESET = os.path.join(ROOT, 'configs', '_base_', 'ppdet2x_compat.yml')
NMS = {'score_threshold': 0.01, 'nms_top_k': 200, 'keep_top_k': 20, 'nms_threshold': 0.45}


def _sigmoid(x):
    return 1. / (1. + np.exp(-x))


def numpy_yolo_box(out, anchors, img_hw, downsample, conf_thresh, num_classes):
    """Paddle's yolo_box, clip_bbox=True, scale_x_y=1: -> boxes [N,4], scores [N,C]."""
    out = out[0].astype(np.float64)
    na = len(anchors) // 2
    _, gh, gw = out.shape
    out = out.reshape(na, 5 + num_classes, gh, gw)
    ih, iw = img_hw
    boxes = np.zeros([na, gh, gw, 4])
    scores = np.zeros([na, gh, gw, num_classes])
    cols, rows = np.meshgrid(np.arange(gw), np.arange(gh))
    for a in range(na):
        cx = (cols + _sigmoid(out[a, 0])) * iw / gw
        cy = (rows + _sigmoid(out[a, 1])) * ih / gh
        w = np.exp(out[a, 2]) * anchors[2 * a] * iw / (downsample * gw)
        h = np.exp(out[a, 3]) * anchors[2 * a + 1] * ih / (downsample * gh)
        box = np.stack([np.maximum(cx - w / 2, 0), np.maximum(cy - h / 2, 0),
                        np.minimum(cx + w / 2, iw - 1), np.minimum(cy + h / 2, ih - 1)], -1)
        conf = _sigmoid(out[a, 4])
        live = conf >= conf_thresh
        boxes[a] = np.where(live[..., None], box, 0)
        scores[a] = np.where(live[..., None], conf[..., None] * _sigmoid(out[a, 5:]).transpose(
            1, 2, 0), 0)
    return boxes.reshape(-1, 4), scores.reshape(-1, num_classes)


def _iou(a, b, normalized):
    off = 0. if normalized else 1.
    iw = min(a[2], b[2]) - max(a[0], b[0]) + off
    ih = min(a[3], b[3]) - max(a[1], b[1]) + off
    if iw <= 0 or ih <= 0:
        return 0.
    inter = iw * ih
    area = lambda r: (r[2] - r[0] + off) * (r[3] - r[1] + off)  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def numpy_multiclass_nms(boxes, scores, normalized):
    kept = []
    for c in range(scores.shape[1]):
        cand = [i for i in np.argsort(-scores[:, c], kind='stable')
                if scores[i, c] > NMS['score_threshold']][:NMS['nms_top_k']]
        chosen = []
        for i in cand:
            if all(_iou(boxes[i], boxes[j], normalized) <= NMS['nms_threshold'] for j in chosen):
                chosen.append(i)
        kept += [[c, scores[i, c]] + list(boxes[i]) for i in chosen]
    kept.sort(key=lambda r: -r[1])
    return np.array(kept[:NMS['keep_top_k']]).reshape(-1, 6)


def _rows(a):
    a = np.asarray(a, np.float64).reshape(-1, 6)
    return a[np.lexsort((-a[:, 1], a[:, 0]))]


def _truncation_matters():
    """An original height whose float32 size recovery rounds up but truncates down."""
    for h in range(200, 2000):
        q = np.float32(INPUT) / (np.float32(INPUT) / np.float32(h))
        if q < h:
            return h
    pytest.skip('no size with a truncation difference in this float32 arithmetic')


def _model(cfg):
    paddle.seed(0)
    model = create('YOLOv3', cfg)
    model.eval()
    return model


@pytest.mark.parametrize('preset', [True, False], ids=['ppdet2x', 'default-1x'])
def test_checkpoint_in_2x_layout_gives_hand_decoded_boxes(tmp_path, preset):
    over = {'MultiClassNMS': dict(NMS)}
    if preset:
        with open(PRESET) as f:
            for section, values in yaml.safe_load(f).items():
                over.setdefault(section, {}).update(values)
    cfg = tiny_cfg(**over)
    # a released 2.x file: a plain name -> array dict, no self-description
    path = str(tmp_path / 'ppdet2x.pdparams')
    source = _model(cfg)
    paddle.save({k: v.numpy() for k, v in source.state_dict().items()}, path)
    paddle.seed(7)
    model = create('YOLOv3', cfg)
    model.eval()
    report = load_weights(model, path)
    assert not report.missing and not report.unexpected and not report.mismatched

    h = _truncation_matters()
    w = 2 * h + 1
    im_shape = np.array([[INPUT, INPUT]], np.float32)
    scale = np.array([[INPUT / h, INPUT / w]], np.float32)
    image = paddle.to_tensor(np.random.RandomState(1).randn(1, 3, INPUT, INPUT).astype('float32'))
    with paddle.no_grad():
        outs = model(image)
        bbox, bbox_num = model.post_process(outs, paddle.to_tensor(im_shape),
                                            paddle.to_tensor(scale))
    q = im_shape / scale
    img_hw = (q.astype(np.int32) if preset else np.floor(q + 0.5).astype(np.int32))[0]
    assert preset == (img_hw[0] == h - 1)  # the two conventions see different sizes here
    head = model.yolo_head
    decoded = [numpy_yolo_box(o.numpy(), a, img_hw, 32 // 2 ** i, 0.005, NUM_CLASSES)
               for i, (o, a) in enumerate(zip(outs, head.mask_anchors))]
    boxes = np.concatenate([d[0] for d in decoded])
    scores = np.concatenate([d[1] for d in decoded])
    want = numpy_multiclass_nms(boxes, scores, normalized=preset)
    got = bbox.numpy()
    assert int(bbox_num.numpy()[0]) == len(got) == len(want) == NMS['keep_top_k']
    np.testing.assert_allclose(_rows(got), _rows(want), rtol=1e-4, atol=1e-3)
    # and the other NMS convention would not have given these boxes
    other = numpy_multiclass_nms(boxes, scores, normalized=not preset)
    assert not (len(other) == len(want) and np.allclose(_rows(other), _rows(want), atol=1e-3))


def test_origin_shape_option_is_checked():
    with pytest.raises(ValueError, match="origin_shape must be one of round, truncate"):
        create('YOLOBox', {}, origin_shape='floor')
