"""A tiny YOLOv3 config, model and batch for the modeling tests (a uniquely named module:
every test folder has a conftest.py, so "from conftest import" is ambiguous)."""
import numpy as np
import paddle

import ppdet.modeling  # noqa: F401  (registers the components)
from ppdet.core.workspace import create

INPUT = 128
NUM_CLASSES = 3


def tiny_cfg(**over):
    """A small YOLOv3 (MobileNetV1 x0.25, neck base width 64) for fast tests."""
    cfg = {
        'num_classes': NUM_CLASSES,
        'YOLOv3': {'backbone': 'MobileNetV1', 'neck': 'YOLOv3FPN', 'yolo_head': 'YOLOv3Head',
                   'post_process': 'BBoxPostProcess'},
        'MobileNetV1': {'scale': 0.25},
        'YOLOv3FPN': {'base_channel': 64},
        'YOLOv3Loss': {'ignore_thresh': 0.7},
        'MultiClassNMS': {'score_threshold': 0.01, 'keep_top_k': 20, 'nms_top_k': 200},
    }
    for k, v in over.items():
        cfg.setdefault(k, {}).update(v) if isinstance(v, dict) else cfg.__setitem__(k, v)
    return cfg


def tiny_model(**over):
    paddle.seed(0)
    return create('YOLOv3', tiny_cfg(**over))


def tiny_batch(bsz=2, size=INPUT, seed=0):
    rng = np.random.RandomState(seed)
    gt_bbox = np.zeros([bsz, 4, 4], 'float32')
    gt_class = np.zeros([bsz, 4], 'int32')
    gt_score = np.zeros([bsz, 4], 'float32')
    boxes = [[0.3, 0.4, 0.25, 0.3], [0.7, 0.6, 0.5, 0.6], [0.5, 0.5, 0.08, 0.1]]
    for b in range(bsz):
        for k, box in enumerate(boxes[:2 + b % 2]):
            gt_bbox[b, k] = box
            gt_class[b, k] = (k + b) % NUM_CLASSES
            gt_score[b, k] = 1.0
    return {'image': paddle.to_tensor(rng.randn(bsz, 3, size, size).astype('float32')),
            'gt_bbox': paddle.to_tensor(gt_bbox), 'gt_class': paddle.to_tensor(gt_class),
            'gt_score': paddle.to_tensor(gt_score)}
