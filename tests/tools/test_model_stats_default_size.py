"""tools/model_stats.py counts a model at its config's input size unless --input_size says
otherwise, and says which size it used and where it came from (it used to count every
model at 608: the 128-input MediaPipe BlazeFace came out at 0.646 GFLOPs, not 0.0286)."""
import importlib.util
import os
import subprocess
import sys

import pytest

from ppdet.core.workspace import load_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, 'tools', 'model_stats.py')
MEDIAPIPE = os.path.join(ROOT, 'configs', 'face_detection', 'mediapipe_blazeface_128.yml')

_spec = importlib.util.spec_from_file_location('model_stats_tool', TOOL)
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)


def _run(*args):
    out = subprocess.run([sys.executable, TOOL] + list(args), capture_output=True, text=True,
                         env=dict(os.environ, OMP_NUM_THREADS='1'), timeout=300)
    return out


def _rows(stdout):
    """{input cell: GFLOPs(seed) cell} of the printed table."""
    return {l.split(' | ')[0]: l.split(' | ')[1] for l in stdout.splitlines()
            if ' | ' in l and l[:1].isdigit()}


def test_default_is_the_config_input_size_and_says_so():
    out = _run('-c', MEDIAPIPE, '--modes', 'seed')
    assert out.returncode == 0, out.stderr[-2000:]
    assert _rows(out.stdout) == {'128': '0.0286'}, out.stdout
    assert 'input size 128 from the config (EvalReader Resize.target_size)' in out.stdout


def test_input_size_flag_overrides_and_says_so():
    out = _run('-c', MEDIAPIPE, '--modes', 'seed', '--input_size', '608', '128')
    assert out.returncode == 0, out.stderr[-2000:]
    assert _rows(out.stdout) == {'608': '0.646', '128': '0.0286'}, out.stdout
    assert 'input size 608, 128 from --input_size' in out.stdout


@pytest.mark.parametrize('config,size,origin', [
    ('fcos/fcos_r50_fpn_1x_coco.yml', (800, 1333), 'EvalReader Resize.target_size'),
    ('face_detection/blazeface_640.yml', 640, 'TestReader Resize.target_size'),
    ('builtin/yolov3_r18_builtin.yml', 192, 'EvalReader Resize.target_size'),
])
def test_default_input_size_of_configs(config, size, origin):
    got = tool.default_input_size(load_config(os.path.join(ROOT, 'configs', config)))
    assert got == (size, 'the config (%s)' % origin)


def test_default_input_size_from_image_shape_alone():
    cfg = {'TestReader': {'inputs_def': {'image_shape': [3, 256, 320]}}}
    assert tool.default_input_size(cfg) == ((256, 320),
                                            'the config (TestReader.inputs_def.image_shape)')


def test_a_config_without_a_size_asks_for_the_flag():
    out = _run('-c', os.path.join(ROOT, 'configs', '_base_', 'yolov3_mobilenet_v1.yml'),
               '--modes', 'seed')
    assert out.returncode == 2
    assert 'error: cannot tell the input size' in out.stderr and \
        '--input_size' in out.stderr, out.stderr[-2000:]
    assert 'Traceback' not in out.stderr


def test_a_pruned_checkpoint_is_counted_pruned(tmp_path):
    """``-o weights=<pruned checkpoint>`` counted the config's unpruned model (audit
    2026-12-05: FCOS pruned by 30% still read 0.333 GFLOPs)."""
    from ppdet.core.workspace import create
    from ppdet.slim.prune import PrunePlan, PruneStep
    from ppdet.slim.steps import make_record
    from ppdet.utils.checkpoint import save_checkpoint
    config = os.path.join(ROOT, 'configs', 'builtin', 'fcos_r18_builtin.yml')
    cfg = load_config(config)
    model = create(cfg['architecture'], cfg)
    names = list(model.prunable_params())[:4]
    plan = PrunePlan.from_flags(model, ','.join(names), ','.join(['0.5'] * len(names)),
                                'l1_norm', 192)
    model, record = PruneStep(plan).apply(model)
    weights = save_checkpoint(model, str(tmp_path / 'pruned'), meta={
        'architecture': cfg['architecture'], 'config': config, 'num_classes': cfg['num_classes'],
        'steps': [make_record('prune', record)]})
    plain = _rows(_run('-c', config, '--modes', 'seed').stdout)
    out = _run('-c', config, '--modes', 'seed', '-o', 'weights=%s' % weights)
    assert out.returncode == 0, out.stderr[-2000:]
    pruned = _rows(out.stdout)
    assert list(pruned) == list(plain) and float(pruned[list(pruned)[0]]) < float(
        plain[list(plain)[0]]), (plain, pruned)
    assert 'steps: prune' in out.stdout
