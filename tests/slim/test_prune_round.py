"""PrunePlan.round_channels: kept channels of each pruned conv rounded down to a multiple of
N, FLOPs never above the plain plan's, the plan recorded so the checkpoint reloads."""
import json

import numpy as np
import paddle
import pytest

import ppdet.modeling  # noqa: F401  (registers the components)
from ppdet.core.workspace import create
from ppdet.slim.prune import PrunePlan, PruneStep, kept_channels, prune, rounded_kept
from ppdet.slim.steps import make_record, restore_steps
from ppdet.utils.checkpoint import load_weights, read_meta, save_checkpoint
from ppdet.utils.model_stats import count_flops

SIZE = 64


def yolov3(seed=0):
    """YOLOv3 with yolo_block widths 256/512, 128/256, 64/128 (big enough to round)."""
    paddle.seed(seed)
    cfg = {'num_classes': 2, 'MobileNetV1': {'scale': 0.25}, 'YOLOv3FPN': {'base_channel': 256},
           'YOLOv3': {'backbone': 'MobileNetV1', 'neck': 'YOLOv3FPN',
                      'yolo_head': 'YOLOv3Head', 'post_process': None}}
    model = create('YOLOv3', cfg)
    model.eval()
    return model


def outputs(model, x):
    with paddle.no_grad():
        return [o.numpy() for o in model(x)]


def test_rounded_kept():
    assert rounded_kept(77, 16) == 64 and rounded_kept(64, 16) == 64
    assert rounded_kept(13, 16) == 13          # below one multiple: left as it is
    assert rounded_kept(77, 0) == 77
    with pytest.raises(ValueError, match='power of two'):
        PrunePlan({'a': 0.5}, round_channels=12)


@pytest.mark.parametrize('multiple', [8, 16, 32])
def test_kept_channels_are_multiples_and_flops_not_above_plain(multiple):
    model = yolov3()
    full = {n: int(p.shape[0]) for n, p in model.prunable_params().items()}
    plain = PrunePlan.from_flags(model, None, 'sensity', input_size=SIZE)
    rounded = PrunePlan.from_flags(model, None, 'sensity', input_size=SIZE,
                                   round_channels=multiple)
    plain_model, _ = prune(yolov3(), plain)
    model, record = prune(model, rounded)
    for name, p in model.prunable_params().items():
        k, k_plain = int(p.shape[0]), kept_channels(full[name], plain.ratios[name])
        assert k <= k_plain and k == record['kept_channels'][name]
        if k_plain >= multiple:
            assert k % multiple == 0, (name, k)
        else:
            assert k == k_plain
    assert count_flops(model, SIZE) <= count_flops(plain_model, SIZE)
    assert record['plan']['round_channels'] == multiple


def test_rounded_checkpoint_reloads(tmp_path):
    model = yolov3(seed=1)
    plan = PrunePlan.from_flags(model, None, 'r578', input_size=SIZE, round_channels=16)
    model, record = PruneStep(plan).apply(model)
    x = paddle.to_tensor(np.random.RandomState(0).randn(1, 3, SIZE, SIZE).astype('float32'))
    want = outputs(model, x)
    path = save_checkpoint(model, str(tmp_path / 'rounded'),
                           meta={'steps': [make_record('prune', record)]})
    steps = json.loads(json.dumps(read_meta(path)['steps']))
    assert steps[0]['plan']['round_channels'] == 16
    fresh = restore_steps(yolov3(seed=2), steps)
    load_weights(fresh, path, strict=True)
    assert {n: p.shape for n, p in fresh.prunable_params().items()} == \
        {n: p.shape for n, p in model.prunable_params().items()}
    for a, b in zip(outputs(fresh, x), want):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_plain_plan_record_is_unchanged():
    plan = PrunePlan({'a': 0.5}, input_size=SIZE)
    assert 'round_channels' not in plan.to_dict()
    assert PrunePlan.from_dict(plan.to_dict()) == plan
