"""slim/quantization/{train,post_quant}.py end to end on the built-in dataset (tiny size)."""
import json
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest
import yaml

from ppdet.core.workspace import create, load_config
from ppdet.slim.steps import make_record
from ppdet.utils.checkpoint import read_meta, save_checkpoint
from slim_script_configs import write_tiny_yolov3

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIZE = 64

EXTRA = """\
epoch: 1
max_iters_per_epoch: 2
Quant:
  not_quant_pattern: [yolo_head.yolo_output]
"""


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    from ppdet.data.synthetic import generate_dataset
    from ppdet.slim.prune import PrunePlan, PruneStep
    tmp = tmp_path_factory.mktemp('quant_scripts')
    generate_dataset(str(tmp / 'data'), num_train=4, num_val=6, image_size=SIZE, seed=0)
    path = tmp / 'tiny.yml'
    write_tiny_yolov3(path, ROOT, tmp / 'out', tmp / 'data', SIZE, base_lr=0.0001, extra=EXTRA)
    cfg = load_config(str(path))
    paddle.seed(4)
    model = create('YOLOv3', cfg)
    fp32 = save_checkpoint(model, str(tmp / 'fp32'), meta={
        'architecture': 'YOLOv3', 'config': str(path), 'num_classes': 6, 'steps': []})
    params = 'yolo_block.0.0.0.conv.weights,yolo_block.1.1.0.conv.weights'
    plan = PrunePlan.from_flags(model, params, '0.5,0.5', 'l1_norm', SIZE)
    model, record = PruneStep(plan).apply(model)
    pruned = save_checkpoint(model, str(tmp / 'pruned'), meta={
        'architecture': 'YOLOv3', 'config': str(path), 'num_classes': 6,
        'steps': [make_record('prune', record)]})
    return {'tmp': tmp, 'config': str(path), 'fp32': fp32, 'pruned': pruned,
            'shapes': record['shapes']}


def _run(script, *args):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    out = subprocess.run([sys.executable, os.path.join(ROOT, 'slim', 'quantization', script)]
                         + list(args), cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout


def _int8_runs(model_dir):
    from ppdet.deploy.predictors import create_predictor
    pred = create_predictor(model_dir, 'paddle', enable_mkldnn_int8=True)
    feeds = {'image': np.random.RandomState(0).randn(1, 3, SIZE, SIZE).astype('float32'),
             'im_shape': np.array([[SIZE, SIZE]], 'float32'),
             'scale_factor': np.ones([1, 2], 'float32')}
    out = pred.run(feeds)
    assert out['bbox_num'].shape == (1,)


@pytest.mark.slow
def test_qat_script_from_pruned_checkpoint_exports_int8(setup):
    tmp = setup['tmp']
    infer = str(tmp / 'qat_infer')
    _run('train.py', '-c', setup['config'], '--use_pact', '--save_inference', infer,
         '-o', 'pretrain_weights=%s' % setup['pruned'])
    final = tmp / 'out' / 'tiny' / 'model_final.pdparams'
    meta = read_meta(str(final))
    assert [s['kind'] for s in meta['steps']] == ['prune', 'quant']
    assert meta['steps'][1]['use_pact'] is True
    # the file alone rebuilds pruned + fake-quantized structure
    from ppdet.engine import build_model
    model, _ = build_model(load_config(setup['config']), str(final))
    for key, shape in setup['shapes'].items():
        key = key if key in model.state_dict() else key.replace('.weight', '._layer.weight')
        assert list(model.state_dict()[key].shape) == list(shape), key
    info = yaml.safe_load(open(os.path.join(infer, 'infer_cfg.yml')))
    assert info['quantized'] is True
    assert [s['kind'] for s in info['compression']['steps']] == ['prune', 'quant']
    # the export is of the file it names (it named the pruned start, as the audit found)
    assert info['compression']['parent'] == str(final)[:-len('.pdparams')]
    _int8_runs(infer)


@pytest.mark.slow
def test_post_quant_script_exports_reports_and_keeps_worst(setup):
    tmp = setup['tmp']
    out = str(tmp / 'ptq')
    stdout = _run('post_quant.py', '-c', setup['config'], '-o', 'weights=%s' % setup['fp32'],
                  '--output_dir', out, '--batch_nums', '2', '--batch_size', '2',
                  '--algo', 'abs_max', '--keep_worst', '1', '--report', '--report_images', '2')
    assert 'kept in fp32' in stdout and '| rank | layer |' in stdout
    report = json.load(open(os.path.join(out, 'quant_report.json')))
    kept = report['kept_fp32']
    assert len(kept) == 1
    rows = {r['weight']: r for r in report['layers']}
    assert rows[kept[0]]['quantized'] is False
    assert os.path.isfile(os.path.join(out, 'quant_report.md'))
    info = yaml.safe_load(open(os.path.join(out, 'infer_cfg.yml')))
    quant = info['compression']['quant']
    # skipped: the layer the report kept plus the architecture's float-only output convs
    assert info['quantized'] is True and len(quant['float_only_tensors']) == 3
    assert sorted(quant['skip_tensor_list']) == sorted(kept + quant['float_only_tensors'])
    assert os.path.isfile(os.path.join(out + '_fp32', 'model.pdmodel'))
    _int8_runs(out)


def test_post_quant_script_names_missing_weights(setup):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    out = subprocess.run([sys.executable, os.path.join(ROOT, 'slim', 'quantization',
                                                       'post_quant.py'),
                          '-c', setup['config'], '--output_dir', str(setup['tmp'] / 'x'),
                          '-o', 'weights=%s' % (setup['tmp'] / 'missing')],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert 'weights file not found' in out.stderr and 'missing' in out.stderr
