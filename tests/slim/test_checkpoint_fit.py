"""A pruned checkpoint given with a config of another backbone or architecture is refused by
the shared loaders (Trainer.load_weights, build_model), so by every script, in one line
naming the config it was made with -- also as ``pretrain_weights``, which loads leniently
(before, the tensors that fit were loaded and the first forward failed deep in Paddle)."""
import json
import os

import paddle
import pytest

from ppdet.core.workspace import create, load_config
from ppdet.engine import Trainer
from ppdet.engine.trainer import build_model
from ppdet.slim.prune import PrunePlan, PruneStep
from ppdet.slim.steps import make_record
from ppdet.utils.checkpoint import META_KEY, save_checkpoint
from seed_flags import SEED_PARAMS, SEED_R578
from slim_script_configs import write_tiny_yolov3
from slim_script_runner import ROOT, fail

SIZE = 64
RESNET = """\
_BASE_: [student.yml]
YOLOv3: {backbone: ResNet}
ResNet: {depth: 18, variant: b, return_idx: [1, 2, 3], freeze_at: -1}
"""


RETINANET = 'configs/builtin/retinanet_r18_builtin.yml'


def _with_meta(src, dst, **changes):
    """A copy of checkpoint ``src`` at ``dst`` whose record has ``changes`` (None: the key
    removed, as in a checkpoint of an older version)."""
    state = paddle.load(src)
    meta = json.loads(state[META_KEY])
    for key, value in changes.items():
        meta.pop(key, None) if value is None else meta.__setitem__(key, value)
    state[META_KEY] = json.dumps(meta)
    paddle.save(state, dst + '.pdparams')
    return dst


@pytest.fixture(scope='module')
def ckpts(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('checkpoint_fit')
    student = write_tiny_yolov3(tmp / 'student.yml', ROOT, tmp / 'out', tmp / 'data', SIZE)
    resnet = tmp / 'resnet.yml'
    resnet.write_text(RESNET)
    paddle.seed(3)
    model = create('YOLOv3', load_config(str(resnet)))
    plan = PrunePlan.from_flags(model, SEED_PARAMS, SEED_R578, 'l1_norm', SIZE)
    model, record = PruneStep(plan).apply(model)
    head = save_checkpoint(model, str(tmp / 'pruned'), meta={
        'architecture': 'YOLOv3', 'config': str(resnet), 'num_classes': 6,
        'steps': [make_record('prune', record)]})
    return {'student': str(student), 'resnet': str(resnet), 'head': head,
            'other_arch': _with_meta(head, str(tmp / 'pruned_retinanet'),
                                     architecture='RetinaNet'),
            'no_arch': _with_meta(head, str(tmp / 'pruned_older'), architecture=None,
                                  num_classes=None)}


def test_fits_its_own_config(ckpts):
    cfg = load_config(ckpts['resnet'])
    model, meta = build_model(cfg, ckpts['head'])
    assert [s['kind'] for s in meta['steps']] == ['prune']
    cfg['pretrain_weights'] = ckpts['head']
    trainer = Trainer(cfg, mode='train')
    trainer.load_weights(ckpts['head'])
    assert [s['kind'] for s in trainer.steps] == ['prune']


@pytest.mark.parametrize('complete', [None, True])  # as pretrain_weights / as weights
def test_other_backbone_refused_by_the_trainer(ckpts, complete):
    cfg = load_config(ckpts['student'])
    cfg['pretrain_weights'] = ckpts['head']
    with pytest.raises(ValueError) as e:
        Trainer(cfg, mode='train').load_weights(ckpts['head'], complete=complete)
    msg = str(e.value)
    assert msg.startswith('pruned checkpoint %s does not fit the model of %s: ' % (
        ckpts['head'], ckpts['student'])), msg
    assert msg.endswith('they were trained with %s: use that config (-c %s)' % (
        ckpts['resnet'], ckpts['resnet'])), msg
    assert 'pretrain_weights' not in msg, msg  # it would be refused there too


def test_record_naming_layers_the_model_lacks(ckpts):
    # a checkpoint that does not record its architecture (an older version's): its pruned
    # YOLOv3 head names layers a RetinaNet lacks
    cfg = load_config(os.path.join(ROOT, RETINANET))
    with pytest.raises(ValueError) as e:
        build_model(cfg, ckpts['no_arch'])
    msg = str(e.value)
    assert msg.startswith('pruned checkpoint %s records a structure that cannot be rebuilt on '
                          'the model of %s (' % (ckpts['no_arch'], cfg['_config_path'])), msg
    assert 'prune.py -P' not in msg, msg  # the old message pointed at the wrong fix
    assert msg.endswith('use that config (-c %s)' % ckpts['resnet']), msg


def test_other_architecture(ckpts):
    cfg = load_config(ckpts['student'])
    with pytest.raises(ValueError, match=r'pruned checkpoint .*pruned_retinanet was made for a '
                                         r'RetinaNet model and .*student.yml builds YOLOv3; '):
        Trainer(cfg, mode='eval').load_weights(ckpts['other_arch'])


@pytest.mark.parametrize('script', ['tools/eval.py', 'tools/export_model.py'])
def test_scripts_name_the_config(ckpts, script, tmp_path):
    extra = ['--output_dir', str(tmp_path / 'export')] if 'export' in script else []
    err = fail(script, '-c', RETINANET, '-o', 'weights=%s' % ckpts['no_arch'], *extra)
    assert 'pruned checkpoint %s records a structure that cannot be rebuilt' % (
        ckpts['no_arch']) in err, err
    assert err.endswith('(-c %s)' % ckpts['resnet']), err
