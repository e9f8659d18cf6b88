"""Channel pruning: plans, checks, PaddleSlim pruning, record/restore, FLOPs shares."""
import collections
import copy
import json

import numpy as np
import paddle
import pytest

import ppdet.modeling  # noqa: F401  (registers the components)
from ppdet.core.workspace import create
from ppdet.slim.presets import PRESETS, SEED_PRUNED_PARAMS, preset_ratios
from ppdet.slim.prune import (PrunePlan, PruneStep, format_prunable, kept_channels,
                              list_prunable, prune)
from ppdet.slim.steps import get_step, make_record, restore_steps
from ppdet.utils.checkpoint import load_weights, read_meta, save_checkpoint
from ppdet.utils.model_stats import count_flops
from seed_flags import SEED_PARAMS, SEED_R578, SEED_SENSITY


SIZE = 32  # TinyDet's test input (tests/slim/conftest.py)
RATIOS = collections.OrderedDict([
    ('stem.conv.weights', 0.5), ('c1.conv.weights', 0.25), ('pw.conv.weights', 0.3),
    ('route.conv.weights', 0.5), ('tip0.conv.weights', 0.4), ('fuse.conv.weights', 0.5),
    ('tip1.conv.weights', 0.7)])


def shapes(model):
    return {k: list(v.shape) for k, v in model.state_dict().items()}


def outputs(model, x):
    with paddle.no_grad():
        return [o.numpy() for o in model(x)]


def tiny_yolov3(seed=0):
    paddle.seed(seed)
    cfg = {'num_classes': 2, 'MobileNetV1': {'scale': 0.25}, 'YOLOv3FPN': {'base_channel': 32},
           'YOLOv3': {'backbone': 'MobileNetV1', 'neck': 'YOLOv3FPN',
                      'yolo_head': 'YOLOv3Head', 'post_process': None}}
    model = create('YOLOv3', cfg)
    model.eval()
    return model


# -- presets and plans -----------------------------------------------------------------
def test_presets_are_the_seed_tables():
    assert ','.join(SEED_PRUNED_PARAMS) == SEED_PARAMS
    assert ','.join(str(r) for r in PRESETS['r578']) == SEED_R578
    assert ','.join(str(r) for r in PRESETS['sensity']) == SEED_SENSITY
    assert all(len(v) == 18 for v in PRESETS.values())
    assert list(preset_ratios('r578').values()) == list(PRESETS['r578'])


def test_from_flags_presets_and_strings_agree_on_yolov3():
    model = tiny_yolov3()
    assert list(model.prunable_params()) == list(SEED_PRUNED_PARAMS)
    by_preset = PrunePlan.from_flags(model, None, 'r578')
    by_flags = PrunePlan.from_flags(model, SEED_PARAMS, SEED_R578)
    assert by_preset == by_flags
    assert list(by_flags.ratios.values()) == [float(r) for r in SEED_R578.split(',')]
    sens = PrunePlan.from_flags(model, SEED_PARAMS, 'sensity', criterion='fpgm', input_size=320)
    assert sens.criterion == 'geometry_median' and sens.input_size == 320
    assert PrunePlan.from_dict(json.loads(json.dumps(sens.to_dict()))) == sens


def test_unknown_yolov3_name_suggests_the_seed_name():
    with pytest.raises(ValueError, match=r"unknown parameter 'yolo_block.0.0.0.conv.weight'; did "
                                         r"you mean 'yolo_block.0.0.0.conv.weights'"):
        PrunePlan.from_flags(tiny_yolov3(), 'yolo_block.0.0.0.conv.weight', '0.5')


def test_plan_accepts_state_dict_keys_and_lists(tiny_det):
    plan = PrunePlan.from_flags(tiny_det, ['route.conv.weight', 'fuse.conv.weights'], [0.5, 0.25])
    assert list(plan.ratios.items()) == [('route.conv.weights', 0.5), ('fuse.conv.weights', 0.25)]
    _, record = prune(tiny_det, PrunePlan({'route.conv.weight': 0.5}, input_size=SIZE))
    assert record['plan']['pruned_params'] == ['route.conv.weights']
    assert tiny_det.route.conv.weight.shape[0] == 8


@pytest.mark.parametrize('params,ratios,match', [
    ('stem.conv.weigths', '0.5', r"unknown parameter 'stem.conv.weigths'; did you mean "
                                 r"'stem.conv.weights'\? \(run prune.py -P to list them\)"),
    ('nothing.like.it', '0.5', r"unknown parameter 'nothing.like.it' \(run prune.py -P"),
    ('stem.conv.weights,c1.conv.weights,pw.conv.weights', '0.5,0.5',
     '3 pruned_params but 2 pruned_ratios'),
    ('stem.conv.weights,c1.conv.weights', '0.5', '2 pruned_params but 1 pruned_ratios'),
    ('stem.conv.weights', '1.0', r"ratio 1.0 for 'stem.conv.weights' is outside \[0, 1\)"),
    ('c1.conv.weights', '-0.1', r"ratio -0.1 for 'c1.conv.weights' is outside \[0, 1\)"),
    ('c1.conv.weights', 'half', "ratio 'half' for 'c1.conv.weights' is not a number"),
    ('out0.weight', '0.5', "'out0.weight' cannot be pruned"),
    ('lateral.conv.weight', '0.5', "'lateral.conv.weight' cannot be pruned"),
    ('stem.conv.weights,stem.conv.weights', '0.1,0.2', 'given more than once'),
    ('', '0.5', 'no parameters to prune'),
    ('stem.conv.weights', None, 'no pruning ratios'),
])
def test_bad_flags_fail_before_any_work(tiny_det, params, ratios, match):
    before = shapes(tiny_det)
    with pytest.raises(ValueError, match=match):
        PrunePlan.from_flags(tiny_det, params, ratios)
    assert shapes(tiny_det) == before


def test_bad_criterion_and_preset_count(tiny_det):
    with pytest.raises(ValueError, match="unknown pruning criterion 'l2'"):
        PrunePlan.from_flags(tiny_det, 'stem.conv.weights', '0.5', criterion='l2')
    # with this family's own names it said '1 pruned_params but 18 pruned_ratios'
    with pytest.raises(ValueError, match=r'--pruned_ratios r578 is a YOLOv3 preset .*: list its '
                                         r'prunable convs'):
        PrunePlan.from_flags(tiny_det, 'stem.conv.weights', 'r578')
    # the seed's names are YOLOv3's: the preset is named as one
    with pytest.raises(ValueError, match='--pruned_ratios sensity is a YOLOv3 preset'):
        PrunePlan.from_flags(tiny_det, None, 'sensity')


def test_a_preset_on_a_model_with_nothing_prunable_says_so(tiny_det_cls):
    """BlazeFace-Lite declares no prunable convs: the message sent its user to -P."""
    class Nothing(tiny_det_cls):
        def prunable_params(self):
            return {}
    with pytest.raises(ValueError, match=r'is a YOLOv3 preset .* Nothing has none of them: it '
                                         r'declares no prunable convs'):
        PrunePlan.from_flags(Nothing(), None, 'r578')


def test_conv_that_paddleslim_cannot_group_fails_cleanly(tiny_det_cls):
    class Claims(tiny_det_cls):  # claims the concat-feeding conv is prunable
        def prunable_params(self):
            out = super().prunable_params()
            out['lateral.conv.weights'] = self.lateral.conv.weight
            return out

    paddle.seed(0)
    model = Claims()
    before = shapes(model)
    plan = PrunePlan({'stem.conv.weights': 0.5, 'lateral.conv.weights': 0.5}, input_size=SIZE)
    with pytest.raises(ValueError, match="cannot prune 'lateral.conv.weights'.*drop it"):
        prune(model, plan)
    assert shapes(model) == before


# -- pruning ---------------------------------------------------------------------------
# each pruned conv's input: the previous pruned conv (dw is depthwise on c1's channels;
# fuse reads the unpruned concat)
FEEDS = {'c1': 'stem', 'pw': 'c1', 'route': 'pw', 'tip0': 'route', 'tip1': 'fuse'}


def expected_kept(weight, n_kept, criterion):
    """Indices (ascending) of the filters PaddleSlim 2.6 keeps: L1 drops the smallest
    mean |W| per filter; FPGM drops the filters with the smallest sum of Euclidean
    distances to all filters (the ones nearest the geometric median)."""
    w = weight.reshape(weight.shape[0], -1)
    if criterion == 'l1_norm':
        scores = np.abs(w).mean(1)
    else:
        scores = np.sqrt(((w[:, None, :] - w[None, :, :]) ** 2).sum(-1)).sum(1)
    return np.sort(scores.argsort()[len(scores) - n_kept:])


@pytest.mark.parametrize('criterion', ['l1_norm', 'geometry_median'])
def test_prune_shrinks_filters_and_every_dependent_tensor(criterion, image, make_det):
    model = make_det()
    # stem filters where L1 and FPGM disagree: 4 large filters in a tight cluster (small
    # distance sums, large L1) and 4 small scattered ones
    rng = np.random.RandomState(7)
    stem = np.concatenate([2. + 0.05 * rng.randn(4, 3, 3, 3), 0.5 * rng.randn(4, 3, 3, 3)])
    model.stem.conv.weight.set_value(stem[[0, 4, 1, 5, 2, 6, 3, 7]].astype('float32'))
    orig = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    out_before = [o.shape for o in outputs(model, image)]
    full = {n: int(p.shape[0]) for n, p in model.prunable_params().items()}
    model, record = prune(model, PrunePlan(RATIOS, criterion, SIZE))
    kept = {n.split('.')[0]: full[n] - int(round(full[n] * r)) for n, r in RATIOS.items()}
    assert kept == {'stem': 4, 'c1': 12, 'pw': 22, 'route': 8, 'tip0': 19, 'fuse': 8, 'tip1': 10}
    s = shapes(model)
    for layer, k in kept.items():
        assert s['%s.conv.weight' % layer][0] == k
        for stat in ('weight', 'bias', '_mean', '_variance'):
            assert s['%s.bn.%s' % (layer, stat)] == [k]
    # inputs of the following convs, the depthwise conv's filters and groups
    assert s['c1.conv.weight'][1] == kept['stem']
    assert s['dw.conv.weight'] == [kept['c1'], 1, 3, 3] and model.dw.conv._groups == kept['c1']
    assert s['dw.bn._mean'] == [kept['c1']]
    assert s['lateral.conv.weight'] == [16, kept['c1'], 1, 1]  # output kept: it feeds the concat
    assert s['pw.conv.weight'][1] == kept['c1']
    assert s['route.conv.weight'][1] == kept['pw']
    assert s['tip0.conv.weight'][1] == s['transition.conv.weight'][1] == kept['route']
    assert s['transition.conv.weight'][0] == 8
    assert s['fuse.conv.weight'][1] == 8 + 16  # concat width unchanged
    assert s['out0.weight'] == [12, kept['tip0'], 1, 1]
    assert s['out1.weight'] == [12, kept['tip1'], 1, 1] and s['out1.bias'] == [12]
    assert not [k for k in model.state_dict() if k.endswith('_backup')]
    assert [o.shape for o in outputs(model, image)] == out_before
    # which filters: the criterion's, each conv's weight and its BN sliced alike
    want = {layer: expected_kept(orig['%s.conv.weight' % layer], k, criterion)
            for layer, k in kept.items()}
    other = 'geometry_median' if criterion == 'l1_norm' else 'l1_norm'
    assert list(expected_kept(orig['stem.conv.weight'], 4, other)) != list(want['stem'])
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    for layer, idx in want.items():
        w = orig['%s.conv.weight' % layer][idx]
        if layer in FEEDS:
            w = w[:, want[FEEDS[layer]]]
        np.testing.assert_array_equal(state['%s.conv.weight' % layer], w, err_msg=layer)
        for stat in ('weight', 'bias', '_mean', '_variance'):
            key = '%s.bn.%s' % (layer, stat)
            np.testing.assert_array_equal(state[key], orig[key][idx], err_msg=key)
    for stat in ('weight', '_mean'):
        np.testing.assert_array_equal(state['dw.bn.' + stat], orig['dw.bn.' + stat][want['c1']])
    np.testing.assert_array_equal(state['dw.conv.weight'], orig['dw.conv.weight'][want['c1']])
    np.testing.assert_array_equal(state['out0.weight'], orig['out0.weight'][:, want['tip0']])
    # the record: the plan and exactly the changed shapes, JSON-able
    assert record['plan'] == PrunePlan(RATIOS, criterion, SIZE).to_dict()
    assert record['shapes'] == {k: v for k, v in s.items() if v != shapes(make_det())[k]}
    json.dumps(record)


def test_kept_channels_matches_paddleslim_rounding():
    assert kept_channels(32, 0.3) == 22 and kept_channels(32, 0.4) == 19
    assert kept_channels(8, 0.05) == 8 and kept_channels(4, 0.99) == 1


def test_record_restores_fresh_model_and_strict_load(tmp_path, image, make_det):
    model, record = prune(make_det(seed=1), PrunePlan(RATIOS, 'l1_norm', SIZE))
    want = outputs(model, image)
    path = save_checkpoint(model, str(tmp_path / 'pruned'),
                           meta={'steps': [make_record(PruneStep.kind, record)]})
    assert not [k for k in paddle.load(path) if k.endswith('_backup')]
    fresh = restore_steps(make_det(seed=2), read_meta(path)['steps'])
    assert shapes(fresh) == shapes(model)
    assert fresh.dw.conv._groups == model.dw.conv._groups
    load_weights(fresh, path, strict=True)
    for a, b in zip(outputs(fresh, image), want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_restore_refuses_a_record_that_does_not_fit(make_det):
    _, record = prune(make_det(), PrunePlan(RATIOS, 'l1_norm', SIZE))
    good = copy.deepcopy(record)
    record['shapes']['pw.conv.weight'] = [21, 12, 1, 1]
    record['shapes']['head.weight'] = [3, 3]
    with pytest.raises(ValueError, match=r'head.weight: not in this model\n  pw.conv.weights: '
                                         r'the plan keeps 22 of its 32 filters here, the '
                                         r'checkpoint 21'):
        get_step('prune').restore(make_det(), record)
    # the restore sets a depthwise conv's groups; another grouped conv it does not guess at
    good['shapes']['dw.conv.weight'] = [8, 2, 3, 3]
    model = make_det()
    with pytest.raises(ValueError, match='only depthwise convs are restored'):
        PruneStep.restore(model, good)
    assert shapes(model) == shapes(make_det()) and model.dw.conv._groups == 16  # untouched
    with pytest.raises(ValueError, match='prune record lacks shapes'):
        PruneStep.restore(make_det(), {'plan': record['plan']})


def test_prune_step_on_tiny_yolov3_restores(tmp_path):
    model = tiny_yolov3(seed=3)
    full = [int(p.shape[0]) for p in model.prunable_params().values()]
    plan = PrunePlan.from_flags(model, None, 'r578', input_size=64)
    model, record = PruneStep(plan).apply(model)
    for c, p, r in zip(full, model.prunable_params().values(), PRESETS['r578']):
        assert p.shape[0] == c - int(round(c * r))
    x = paddle.to_tensor(np.random.RandomState(0).randn(1, 3, 64, 64).astype('float32'))
    want = outputs(model, x)
    assert [o.shape[1] for o in want] == [21, 21, 21]
    path = save_checkpoint(model, str(tmp_path / 'y'), meta={'steps': [make_record('prune',
                                                                                    record)]})
    fresh = restore_steps(tiny_yolov3(seed=4), read_meta(path)['steps'])
    load_weights(fresh, path, strict=True)
    for a, b in zip(outputs(fresh, x), want):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


# -- FLOPs -----------------------------------------------------------------------------
def test_list_prunable_shares(tiny_det):
    rows = list_prunable(tiny_det, SIZE)
    assert [r.name for r in rows] == list(tiny_det.prunable_params())
    assert rows[0].shape == [8, 3, 3, 3]
    total = count_flops(tiny_det, SIZE)
    assert rows[0].flops_share == pytest.approx(16 * 16 * 8 * 3 * 9 / total)
    assert 0 < sum(r.flops_share for r in rows) < 1
    assert 'tip1.conv.weights' in format_prunable(rows)


def test_listing_a_model_without_prunable_convs_says_so():
    import os
    from ppdet.core.workspace import load_config
    from ppdet.slim.pruning_job import print_params
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    got = []
    print_params(load_config(os.path.join(root, 'configs', 'face_detection',
                                          'mediapipe_blazeface_128.yml')), out=got.append)
    assert got == ['MediaPipeBlazeFace declares no prunable convs (see its prunable_params(): '
                   'every conv feeds a residual add, a depthwise group or a fixed-width '
                   'output), so it cannot be channel-pruned']


def test_listing_shows_what_pruning_each_conv_alone_removes():
    """`prune.py -P` showed each conv's own FLOPs share only: RetinaNet's P3 FPN output conv
    listed 5.4%, while pruning it at 0.5 removed 10.7% (the head, shared by every level,
    loses input channels; so does every FPN output conv of its group).  The listing now
    shows the measured cut beside it, the same number flops_cut gives."""
    import os
    from ppdet.core.workspace import load_config
    from ppdet.engine import Trainer
    from ppdet.slim.flops_target import flops_cut
    from ppdet.slim.pruning_job import print_params
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cfg = load_config(os.path.join(root, 'configs', 'builtin', 'retinanet_r18_builtin.yml'))
    got = []
    print_params(cfg, out=got.append)
    lines = got[0].splitlines()
    assert lines[0].split() == ['name', 'shape', 'FLOPs', 'share', 'pruned', 'alone', 'at',
                                '0.5', 'removes']
    row = [ln for ln in lines if ln.startswith('neck.fpn_convs.0.conv.weight ')][0].split()
    own, cut = float(row[-2].rstrip('%')), float(row[-1].rstrip('%'))
    model = Trainer(cfg, mode='eval').model
    want = flops_cut(model, {'neck.fpn_convs.0.conv.weight': 0.5}, input_size=192)
    assert cut == pytest.approx(100 * want, abs=0.006)
    assert cut > 1.5 * own       # the coupled convs: more than its own half
    assert lines[-1].startswith("(FLOPs share: the conv's own share")
