"""Acceptance: the seed's pruning presets on the real YOLOv3-MobileNetV1 at 608.

Seed (PaddleDetection 1.x slim benchmark, COCO): r578 cuts GFLOPs 20.64 -> 6.27
(-69.64%) and size 94.60 -> 31.30 MB (-66.90%); sensity -34.27% and -28.54%.
FLOPs are conv multiply-accumulates (PaddleSlim's convention); size is the float32
state dict without PaddleSlim's ``*_backup`` buffers.
"""
import os

import pytest

from ppdet.core.workspace import create, load_config
from ppdet.slim.prune import PrunePlan, PruneStep
from ppdet.slim.steps import make_record, restore_steps
from ppdet.utils.model_stats import count_flops, param_size_mb
from seed_flags import SEED_PARAMS, SEED_R578, SEED_SENSITY

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, 'configs', 'yolov3_mobilenet_v1.yml')
SEED = {  # ratios flag verbatim, FLOPs cut %, size cut %
    'r578': (SEED_R578, 69.64, 66.90),
    'sensity': (SEED_SENSITY, 34.27, 28.54),
}


@pytest.fixture(scope='module')
def cfg():
    return load_config(CONFIG)


@pytest.fixture(scope='module')
def baseline(cfg):
    model = create(cfg['architecture'], cfg)
    return count_flops(model, 608), param_size_mb(model)


@pytest.mark.slow
@pytest.mark.parametrize('preset', ['r578', 'sensity'])
def test_seed_presets_cut_flops_and_size_like_the_seed(cfg, baseline, preset):
    ratios, flops_cut, size_cut = SEED[preset]
    flops0, size0 = baseline
    assert flops0 / 1024. ** 3 == pytest.approx(20.64, abs=0.01)
    model = create(cfg['architecture'], cfg)
    plan = PrunePlan.from_flags(model, SEED_PARAMS, ratios, 'l1_norm', 608)
    assert plan == PrunePlan.from_flags(model, None, preset, 'l1_norm', 608)
    model, record = PruneStep(plan).apply(model)
    got_flops = 100 * (1 - count_flops(model, 608) / flops0)
    got_size = 100 * (1 - param_size_mb(model) / size0)
    assert got_flops == pytest.approx(flops_cut, abs=2.0)
    assert got_size == pytest.approx(size_cut, abs=2.0)
    if preset == 'r578':  # the record rebuilds the structure on a fresh model
        fresh = restore_steps(create(cfg['architecture'], cfg), [make_record('prune', record)])
        assert {k: list(v.shape) for k, v in fresh.state_dict().items()} == \
            {k: list(v.shape) for k, v in model.state_dict().items()}
