"""The sensitivity evaluator's reuse (backbone features, neck levels, metric) is exact."""
import pytest

OPTS = ['YOLOBox.conf_thresh=0.0', 'MultiClassNMS.score_threshold=0.0',
        'EvalDataset.image_dir=train', 'EvalDataset.anno_path=annotations/instances_train.json']


@pytest.fixture
def trainer(tiny_config):
    from ppdet.core import load_config
    from ppdet.engine import Trainer
    return Trainer(load_config(tiny_config, overrides=OPTS), mode='eval')


def _count_calls(layer):
    calls = []
    layer.register_forward_post_hook(lambda *a: calls.append(1))
    return calls


UNITS = ['conv_module.conv0', 'conv_module.conv1', 'conv_module.conv2', 'conv_module.conv3',
         'conv_module.route', 'tip']


@pytest.mark.parametrize('param, reran', [
    # conv0 of level 0: every unit from it on (its consumer conv1, then all downstream)
    ('yolo_block.0.0.0.conv.weights', ['0.%s' % u for u in UNITS] + ['t0'] +
     ['%d.%s' % (i, u) for i in (1, 2) for u in UNITS] + ['t1']),
    # the tip of level 1 feeds only the head: the tip alone reruns
    ('yolo_block.1.tip.conv.weights', ['1.tip']),
    # the route conv of level 2 (the last level): route, its consumer tip
    ('yolo_block.2.2.conv.weights', ['2.conv_module.route', '2.tip']),
    # conv3 of level 1: conv3, route, tip, the transition and all of level 2
    ('yolo_block.1.1.1.conv.weights', ['1.conv_module.conv3', '1.conv_module.route', '1.tip',
                                       't1'] + ['2.%s' % u for u in UNITS])])
def test_unit_reuse_scores_like_the_full_model_and_reruns_only_downstream(trainer, param,
                                                                          reran):
    from ppdet.slim.prune import make_pruner, prunable_params
    from ppdet.slim.subset_eval import SubsetEvaluator
    model = trainer.model
    full = SubsetEvaluator(trainer, max_images=4, cache_backbone=False, param_names=[param],
                           metric='AR100')
    fast = SubsetEvaluator(trainer, max_images=4, cache_backbone=True, param_names=[param],
                           metric='AR100')
    assert fast.memos is not None and full.memos is None
    base = fast(model)  # the unpruned pass fills the memos
    assert base == full(model)
    neck = model.neck
    units = {}
    for i, block in enumerate(neck.yolo_blocks):
        for u in UNITS:
            layer = block
            for part in u.split('.'):
                layer = layer._sub_layers[part]
            units['%d.%s' % (i, u)] = layer
    for i, t in enumerate(neck.routes):
        units['t%d' % i] = t
    assert all(len(m.outputs) == len(units) for m in fast.memos)
    pruner = make_pruner(model, 'l1_norm', 64)
    plan = pruner.prune_var(prunable_params(model)[param].name, 0, 0.5)
    try:
        calls = {k: _count_calls(layer) for k, layer in units.items()}
        pruned = fast(model)
        assert sorted(k for k, c in calls.items() if c) == sorted(reran)
        assert all(len(c) in (0, len(fast.batches)) for c in calls.values())
        assert pruned == full(model)
    finally:
        plan.restore(model)
    assert fast._changed_units(model) == set()
    assert fast(model) == base


def test_the_metric_is_built_once(trainer, monkeypatch):
    """Loading the ground truth per probe cost as much as a neck pass: it happens once."""
    import ppdet.metrics.metrics as metrics
    from ppdet.slim.subset_eval import SubsetEvaluator
    loads = []
    real = metrics.load_coco_gt
    monkeypatch.setattr(metrics, 'load_coco_gt', lambda *a: loads.append(1) or real(*a))
    ev = SubsetEvaluator(trainer, max_images=2, metric='AR100')
    first, second = ev(trainer.model), ev(trainer.model)
    assert first == second and len(loads) == 1


def test_one_area_range_gives_the_same_values(trainer):
    """A probe reads one value: COCOeval matches in the 'all' area range only, and that
    value is the full evaluation's to the last digit; a size value keeps every range."""
    from ppdet.slim.subset_eval import SubsetEvaluator
    full = {}
    for name in ('AP', 'AP50', 'AR100', 'APs'):
        ev = SubsetEvaluator(trainer, max_images=4, cache_backbone=False, metric=name)
        assert ev._metric.all_areas_only == (name != 'APs')
        full[name] = ev(trainer.model)
        ev._metric.all_areas_only = False
        assert ev(trainer.model) == full[name]
    assert full['AP50'] > 0


def test_an_image_count_it_cannot_meet_is_said(trainer, ppdet_log):
    """More images than the eval set has, or a count inside a batch: the evaluator scores
    what it can, and says so (it used to be silent)."""
    from ppdet.slim.subset_eval import SubsetEvaluator
    n = len(trainer._loader('eval')[0])
    ev = SubsetEvaluator(trainer, max_images=n + 50, cache_backbone=False)
    assert ev.num_images == n
    said = [m for m in ppdet_log.messages if 'not the %d asked for' % (n + 50) in m]
    assert said and 'the eval set has no more' in said[0]


def test_a_chosen_subset_is_said_once_not_warned_as_skipped_images(trainer, ppdet_log,
                                                                    monkeypatch):
    """Sensitivity scores the first --eval_images images on purpose; the metric warned
    "evaluated 4 of N images ...; N-4 skipped ... the loader's warnings say why" in every
    analysis (make demo too), as if images had been lost."""
    from ppdet.metrics import metrics
    from ppdet.slim.subset_eval import SubsetEvaluator
    monkeypatch.setattr(metrics, '_SUBSET_WARNED', set())   # said once per process
    total = len(trainer._loader('eval')[0])
    assert total > 4
    evaluator = SubsetEvaluator(trainer, max_images=4, cache_backbone=False, metric='AR100')
    evaluator(trainer.model)
    assert not [m for m in ppdet_log.messages if 'skipped' in m]
    assert [m for m in ppdet_log.messages if 'scoring the first' in m] == [
        'sensitivity: scoring the first 4 of the %d eval images (--eval_images 4)' % total]
