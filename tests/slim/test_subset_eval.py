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


@pytest.mark.parametrize('param', ['yolo_block.0.0.0.conv.weights',
                                   'yolo_block.1.tip.conv.weights',
                                   'yolo_block.2.2.conv.weights'])
def test_level_reuse_scores_like_the_full_model_and_skips_earlier_levels(trainer, param):
    from ppdet.slim.prune import make_pruner, prunable_params
    from ppdet.slim.subset_eval import SubsetEvaluator
    model = trainer.model
    full = SubsetEvaluator(trainer, max_images=4, cache_backbone=False, param_names=[param],
                           metric='AR100')
    fast = SubsetEvaluator(trainer, max_images=4, cache_backbone=True, param_names=[param],
                           metric='AR100')
    assert fast.memos is not None and full.memos is None
    level = int(param.split('.')[1])
    base = fast(model)  # the unpruned pass fills the memos
    assert base == full(model)
    assert all(sorted(m.levels) == [0, 1, 2] for m in fast.memos)
    pruner = make_pruner(model, 'l1_norm', 64)
    plan = pruner.prune_var(prunable_params(model)[param].name, 0, 0.5)
    try:
        assert fast._first_changed_level(model) == level
        calls = [_count_calls(b) for b in model.neck.yolo_blocks]
        pruned = fast(model)
        # the levels before the pruned one came from the memo; the rest ran
        assert [len(c) for c in calls] == [0] * level + [len(fast.batches)] * (3 - level)
        assert pruned == full(model)
    finally:
        plan.restore(model)
    assert fast._first_changed_level(model) == 3
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
