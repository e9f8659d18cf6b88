"""The config system's checks on the shipped configs: a wrong-typed or misspelt setting of a
component, optimizer, learning rate, reader or dataset fails when the config is loaded (or
the component built) with one line naming the key, ``-o`` takes every key the YAML could
hold and merges mappings, and a YAML or ``_BASE_`` mistake names its file.  The scripts
print these as one ``error:`` line (exit 2), before any training."""
import importlib.util
import inspect
import os
import textwrap

import pytest

from ppdet.core import config_checks, workspace
from ppdet.core.workspace import ConfigError, create, load_config, register

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
R18 = os.path.join(ROOT, 'configs', 'builtin', 'yolov3_r18_builtin.yml')
FACE = os.path.join(ROOT, 'configs', 'face_detection', 'blazeface_builtin.yml')
FCOS = os.path.join(ROOT, 'configs', 'builtin', 'fcos_r18_builtin.yml')
COCO = os.path.join(ROOT, 'configs', 'retinanet', 'retinanet_r50_fpn_1x_coco.yml')
MOBILENET = os.path.join(ROOT, 'configs', 'yolov3_mobilenet_v1.yml')

_spec = importlib.util.spec_from_file_location(
    'core_slim_script_runner', os.path.join(ROOT, 'tests', 'slim', 'slim_script_runner.py'))
_runner = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_runner)
fail = _runner.fail     # a script must exit 2 with one ``error:`` line and no traceback


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return str(p)


def _params(model):
    return sum(int(p.size) for p in model.parameters())


# -- S1: a bool argument takes true or false only -------------------------------------
@pytest.mark.parametrize('config, override', [
    (FACE, 'BlazeNet.lite_edition=flase'),
    (R18, 'YOLOv3Loss.label_smooth=nope'),
    (R18, 'YOLOBox.clip_bbox=yes please'),
    (R18, 'MultiClassNMS.normalized=0'),
    (R18, 'ResNet.freeze_norm=off!'),
    (FCOS, 'FCOSHead.norm_reg_targets=flase'),
])
def test_a_bool_argument_refuses_anything_but_true_or_false(config, override):
    """``bool('flase')`` is true: BlazeNet.lite_edition=flase built BlazeFace-Lite."""
    key, value = override.split('=')
    with pytest.raises(ConfigError, match=r'^%s must be true or false; got %r \(e.g. -o %s=true\)'
                                          % (key, workspace._yaml_load(value), key)):
        load_config(config, [override])


def test_a_bool_argument_built_from_a_config_not_validated():
    """create() checks too: a config assembled in code, or a transform's arguments."""
    cfg = {'BlazeNet': {'lite_edition': 'flase'}}
    with pytest.raises(ConfigError, match="BlazeNet.lite_edition must be true or false; got "
                                          "'flase'"):
        create('BlazeNet', cfg)
    with pytest.raises(ConfigError, match="Resize.keep_ratio must be true or false"):
        create('Resize', None, target_size=[64, 64], keep_ratio='flase')


def test_true_and_false_build_what_they_say():
    lite = create('BlazeFace', load_config(FACE, ['BlazeNet.lite_edition=true']))
    full = create('BlazeFace', load_config(FACE, ['BlazeNet.lite_edition=false']))
    assert _params(lite) != _params(full)
    assert _params(full) == _params(create('BlazeFace', load_config(FACE)))


@pytest.mark.parametrize('variant', ['D', 'e', 'vd'])
def test_resnet_refuses_an_unknown_variant(variant):
    """Any letter but 'c'/'d' used to build variant 'b'."""
    cfg = load_config(R18, ['ResNet.variant=%s' % variant])
    with pytest.raises(ConfigError, match=r"^ResNet: variant %r not supported \(use one of 'a', "
                                          r"'b', 'c', 'd'\)" % variant):
        create(cfg['architecture'], cfg)


def test_resnet_known_variants_build():
    from ppdet.modeling.backbones.resnet import ResNet, VARIANTS
    for v in VARIANTS:
        assert ResNet(depth=18, variant=v, width_mult=0.25).variant == v


# -- S2: -o with a mapping merges --------------------------------------------------------
def test_a_mapping_override_merges_into_its_section():
    """``-o "ResNet={depth: 34}"`` replaced the section: width_mult and return_idx were
    lost and a 22.7M-parameter network built instead of 2.6M."""
    merged = load_config(R18, ['ResNet={depth: 34}'])
    dotted = load_config(R18, ['ResNet.depth=34'])
    assert merged['ResNet'] == dotted['ResNet']
    assert merged['ResNet']['width_mult'] == 0.25 and merged['ResNet']['return_idx'] == [1, 2, 3]
    assert _params(create('YOLOv3', merged)) == _params(create('YOLOv3', dotted))
    nested = load_config(R18, ['OptimizerBuilder={regularizer: {factor: 0.001}}'])
    assert nested['OptimizerBuilder']['regularizer'] == {'type': 'L2', 'factor': 0.001}
    assert nested['OptimizerBuilder']['clip_grad_by_norm'] == 10.0


def test_a_mapping_naming_another_component_replaces():
    """The old optimizer's arguments are not the new one's."""
    cfg = load_config(COCO, ['OptimizerBuilder.optimizer={type: Adam, beta1: 0.8}'])
    assert cfg['OptimizerBuilder']['optimizer'] == {'type': 'Adam', 'beta1': 0.8}


# -- S5: a value of the wrong type names its key ------------------------------------------
@pytest.mark.parametrize('override, message', [
    ('YOLOBox.conf_thresh=[0.1]', r'YOLOBox.conf_thresh must be a number; got \[0.1\] '
                                  r'\(e.g. -o YOLOBox.conf_thresh=0.005\)'),
    ('MultiClassNMS.keep_top_k=abc', "MultiClassNMS.keep_top_k must be an integer; got 'abc'"),
    ('YOLOv3Loss.ignore_thresh=abc', "YOLOv3Loss.ignore_thresh must be a number; got 'abc'"),
    ('ResNet.width_mult=abc', "ResNet.width_mult must be a number; got 'abc'"),
    ('YOLOv3FPN.base_channel=64.5', 'YOLOv3FPN.base_channel must be an integer; got 64.5'),
    ('use_fine_grained_loss=flase', "use_fine_grained_loss must be true or false; got 'flase'"),
    ('EvalDataset.sample_num=2.5', 'EvalDataset.sample_num must be an integer; got 2.5'),
    ('OptimizerBuilder.optimizer.beta1=high',
     "OptimizerBuilder.optimizer.beta1 must be a number; got 'high'"),
])
def test_a_wrong_type_in_a_section_names_the_key(override, message):
    with pytest.raises(ConfigError, match='^' + message):
        load_config(R18, [override])


def test_numbers_of_the_other_kind_that_fit_are_taken():
    cfg = load_config(R18, ['YOLOv3FPN.base_channel=64.0', 'ResNet.width_mult=1',
                            'OptimizerBuilder.optimizer.epsilon=1e-6'])  # YAML: a string
    assert create('YOLOv3', cfg).neck.__class__.__name__ == 'YOLOv3FPN'
    assert create('Adam', None, epsilon='1e-6').epsilon == 1e-6


@register
class CfgCheckProbe(object):
    def __init__(self, sizes=(1, 2), scale=None):
        self.total = sum(sizes) * (1 if scale is None else scale)


def test_a_constructor_error_names_the_component():
    """A TypeError / ValueError inside the constructor (a value no default's type
    describes) was a traceback or a message naming no key."""
    with pytest.raises(ConfigError, match=r"^building CfgCheckProbe from the config: "
                                          r"unsupported operand type"):
        create('CfgCheckProbe', {'CfgCheckProbe': {'sizes': ['a', 'b']}})
    workspace.import_components()   # ResNet registered whichever tests ran before
    with pytest.raises(ConfigError, match=r"^building ResNet from the config: '>=' not supported"):
        create('ResNet', {'ResNet': {'return_idx': 'abc'}})


# -- S6: the settings sections' keys -----------------------------------------------------
@pytest.mark.parametrize('section, message', [
    ('OptimizerBuilder: {clip_grad_norm: 10.0}',
     r"unknown key 'clip_grad_norm' in OptimizerBuilder; did you mean 'clip_grad_by_norm'\?"),
    ('OptimizerBuilder: {regularizer: {type: L2, weight_decay: 0.0001}}',
     "unknown key 'weight_decay' in OptimizerBuilder.regularizer.*valid keys: factor, type"),
    ('OptimizerBuilder: {regularizer: {type: L2, factr: 0.0001}}',
     r"unknown key 'factr' in OptimizerBuilder.regularizer; did you mean 'factor'\?"),
    ('OptimizerBuilder: {optimizer: {type: Momentum, momentun: 0.9}}',
     r"unknown key 'momentun' in OptimizerBuilder.optimizer \(type: Momentum\); did you mean "
     r"'momentum'\?"),
    ('LearningRate: {base_lr: 0.001, warmup_steps: 100}',
     r"unknown key 'warmup_steps' in LearningRate \(valid keys: base_lr, schedulers\)"),
    ('LearningRate: {bas_lr: 0.001}', r"unknown key 'bas_lr' in LearningRate; did you mean "
                                      r"'base_lr'\?"),
    ('LearningRate: {schedulers: [{name: LinearWarmup, stpes: 3}]}',
     r"unknown key 'stpes' in LearningRate.schedulers\[0\] \(name: LinearWarmup\); did you "
     r"mean 'steps'\?"),
    ('TrainReader: {inputs_def: {num_max_boxs: 50}}',
     r"^unknown key 'num_max_boxs' in TrainReader.inputs_def \(valid keys: fields, image_shape\); "
     r"the boxes are padded to PadBox.num_max_boxes \(set that one\)$"),
    ('EvalDataset: {sampl_num: 5}', r"unknown key 'sampl_num' in EvalDataset \(name: "
                                    r"COCODataSet\); did you mean 'sample_num'\?"),
])
def test_a_typo_in_a_settings_section_is_refused(tmp_path, section, message):
    """These typos were ignored: clip_grad_norm trained without clipping."""
    path = _write(tmp_path, 'c.yml', '_BASE_: [%s]\n%s\n' % (MOBILENET, section))
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_settings_sections_that_are_fine(tmp_path):
    """Each setting reaches what it sets (the base config has no clip, factor 0.0005,
    base_lr 0.001 and gt_score optional)."""
    from ppdet.data.reader import train_fields
    from ppdet.engine.optimizer import build_lr, build_optimizer
    path = _write(tmp_path, 'c.yml', """
        _BASE_: [%s]
        OptimizerBuilder: {clip_grad_by_norm: 10.0, regularizer: {type: L2, factor: 0.0001}}
        LearningRate: {base_lr: 0.002}
        TrainReader: {inputs_def: {fields: [gt_score]}}
    """ % MOBILENET)
    cfg = load_config(path)
    model = create(cfg['architecture'], cfg)
    lr = build_lr(cfg, 10, 1)
    opt = build_optimizer(cfg, model.parameters(), lr)
    assert opt._grad_clip.clip_norm == 10.0
    assert opt._regularization_method == 'l2_decay' and opt._regularization_coeff == 0.0001
    # the base's warm-up ramps to base_lr, then its piecewise decay steps down from it
    assert opt._learning_rate is lr and lr.end_lr == 0.002
    assert lr.learning_rate.values == pytest.approx([0.002, 0.0002, 0.00002])
    assert train_fields(cfg) == (('gt_bbox', 'gt_class', 'gt_score'), ())


def test_the_section_keys_match_the_code_that_reads_them():
    """The core cannot import the reader or the optimizer code (they import it): its key
    lists must not drift from theirs."""
    from ppdet.data import reader
    from ppdet.engine import optimizer
    assert config_checks.READER_KEYS == reader.READER_KEYS
    source = inspect.getsource(optimizer)
    for key in (config_checks.LEARNING_RATE_KEYS + config_checks.OPTIMIZER_KEYS +
                config_checks.REGULARIZER_KEYS):
        assert "'%s'" % key in source, key
    assert "opt.pop('type', %r)" % config_checks.DEFAULT_OPTIMIZER in source


# -- M1: -o takes the keys the YAML could hold ---------------------------------------------
@pytest.mark.parametrize('override, path, value', [
    ('EvalDataset.sample_num=16', ('EvalDataset', 'sample_num'), 16),
    ('TrainDataset.empty_ratio=0.5', ('TrainDataset', 'empty_ratio'), 0.5),
    ('EvalReader.drop_last=true', ('EvalReader', 'drop_last'), True),
    ('EvalReader.shuffle=false', ('EvalReader', 'shuffle'), False),
    ('TestDataset.image_dir=x', ('TestDataset', 'image_dir'), 'x'),
    ('OptimizerBuilder.clip_grad_by_norm=5', ('OptimizerBuilder', 'clip_grad_by_norm'), 5),
    ('TrainReader.inputs_def.fields=[gt_score]', ('TrainReader', 'inputs_def', 'fields'),
     ['gt_score']),
])
def test_overrides_take_keys_the_yaml_does_not_hold(override, path, value):
    node = load_config(COCO, [override])
    for part in path:
        node = node[part]
    assert node == value


def test_override_keys_follow_the_named_class_whatever_the_order():
    """The keys of R18's optimizer (Adam) are those of the type the overrides end with."""
    kind = 'OptimizerBuilder.optimizer.type=Momentum'
    arg = 'OptimizerBuilder.optimizer.momentum=0.8'
    for ov in ([kind, arg], [arg, kind]):
        cfg = load_config(R18, ov)
        assert cfg['OptimizerBuilder']['optimizer'] == {'type': 'Momentum', 'momentum': 0.8}
    with pytest.raises(ConfigError, match=r"unknown config key 'beta1' in override "
                                          r"'OptimizerBuilder.optimizer.beta1=0.8' \(valid keys "
                                          r"of OptimizerBuilder.optimizer \(type: Momentum\)"):
        load_config(COCO, ['OptimizerBuilder.optimizer.beta1=0.8'])
    with pytest.raises(ConfigError, match=r"unknown config key 'image_dri' .*did you mean "
                                          r"'image_dir'"):
        load_config(COCO, ['TestDataset.image_dri=x'])


# -- M3: the metric --------------------------------------------------------------------
def test_an_unknown_metric_fails_when_the_config_is_loaded():
    with pytest.raises(ConfigError, match=r"unknown metric 'VOCC' in config key \"metric\"; "
                                          r"did you mean 'VOC'"):
        load_config(R18, ['metric=VOCC'])
    with pytest.raises(ConfigError, match=r"unknown metric 'coco' .*did you mean 'COCO'\? "
                                          r"\(metric names are case-sensitive; valid metrics: "
                                          r"COCO, VOC"):
        load_config(R18, ['metric=coco'])
    assert load_config(R18, ['metric=VOC'])['metric'] == 'VOC'


# -- M5: a missing _BASE_ file -----------------------------------------------------------
def test_a_missing_base_names_the_config_and_its_entry(tmp_path):
    child = _write(tmp_path, 'child.yml', '_BASE_: [../nope.yml]\nepoch: 1\n')
    with pytest.raises(ConfigError, match=r"child.yml: _BASE_ entry '../nope.yml': no such file "
                                          r".*nope.yml \(_BASE_ paths are relative"):
        load_config(child)


# -- M13: an architecture that is not one -----------------------------------------------------
def test_a_backbone_as_architecture_is_named_one():
    with pytest.raises(ConfigError, match=r"^architecture 'MobileNetV1' is a backbone, not an "
                                          r"architecture; set architecture to one of: .*YOLOv3"):
        load_config(R18, ['architecture=MobileNetV1'])
    with pytest.raises(ConfigError, match="architecture 'YOLOv3FPN' is a neck"):
        load_config(R18, ['architecture=YOLOv3FPN'])


# -- M14: duplicate keys --------------------------------------------------------------------
def test_a_key_given_twice_is_refused_with_its_line(tmp_path):
    """PyYAML keeps the last value: ``epoch: 3`` then ``epoch: 5`` trained 5 epochs."""
    path = _write(tmp_path, 'dup.yml', 'architecture: YOLOv3\nepoch: 3\nepoch: 5\n')
    with pytest.raises(ConfigError, match=r"dup.yml:3: key 'epoch' is given twice in one mapping "
                                          r"\(first on line 2\); YAML would keep only the last "
                                          r"value: remove one"):
        load_config(path)
    nested = _write(tmp_path, 'nested.yml', 'ResNet:\n  depth: 18\n  width_mult: 1.0\n'
                                            '  depth: 34\n')
    with pytest.raises(ConfigError, match=r"nested.yml:4: key 'depth' .*\(first on line 2\)"):
        load_config(nested)
    with pytest.raises(ConfigError, match=r"override 'ResNet=\{depth: 3, depth: 4\}': key 'depth' "
                                          r"is given twice"):
        load_config(R18, ['ResNet={depth: 3, depth: 4}'])
    merged = _write(tmp_path, 'merge.yml', """
        base: &b {depth: 18, width_mult: 0.5}
        ResNet:
          <<: *b
          depth: 34
    """)
    data = workspace._read_yaml(merged)     # a merge key may still be overridden
    assert data['ResNet'] == {'depth': 34, 'width_mult': 0.5}
    with pytest.raises(ConfigError, match='safe_load, which never executes tags'):
        load_config(_write(tmp_path, 'evil.yml', 'epoch: !!python/object/apply:os.getpid []\n'))


# -- through the scripts: one error: line, exit 2, no traceback, before any training ------------
@pytest.mark.parametrize('script, args, message', [
    ('tools/train.py', ['-c', FACE, '-o', 'BlazeNet.lite_edition=flase'],
     "error: BlazeNet.lite_edition must be true or false; got 'flase'"),
    ('tools/train.py', ['-c', R18, '-o', 'YOLOBox.conf_thresh=[0.1]'],
     'error: YOLOBox.conf_thresh must be a number; got [0.1]'),
    ('tools/train.py', ['-c', R18, '-o', 'ResNet.return_idx=abc'],
     "error: building ResNet from the config: '>=' not supported"),
    ('tools/train.py', ['-c', R18, '-o', 'ResNet.variant=D'],
     "error: ResNet: variant 'D' not supported (use one of 'a', 'b', 'c', 'd')"),
    ('tools/train.py', ['-c', R18, '-o', 'metric=VOCC', '--eval'],
     "error: unknown metric 'VOCC' in config key \"metric\"; did you mean 'VOC'"),
    ('tools/eval.py', ['-c', R18, '-o', 'metric=coco'], "did you mean 'COCO'?"),
    ('tools/eval.py', ['-c', R18, '-o', 'architecture=MobileNetV1'],
     "error: architecture 'MobileNetV1' is a backbone"),
])
def test_scripts_print_the_config_error_in_one_line(script, args, message):
    assert message in fail(script, *args)


# -- V1: the optimizer's numbers ---------------------------------------------------------
@pytest.mark.parametrize('override, message', [
    ('OptimizerBuilder.clip_grad_by_norm=-1',
     r"OptimizerBuilder.clip_grad_by_norm must be a number > 0, or null for no clipping; got -1 "
     r"\(e.g. -o OptimizerBuilder.clip_grad_by_norm=10.0\)$"),
    ('OptimizerBuilder.clip_grad_by_norm=abc',
     r"OptimizerBuilder.clip_grad_by_norm must be a number > 0, or null for no clipping; got "
     r"'abc'"),
    ('OptimizerBuilder.clip_grad_by_norm=0',
     r"OptimizerBuilder.clip_grad_by_norm must be a number > 0, or null for no clipping; got 0 "),
    ('OptimizerBuilder.clip_grad_by_norm=.nan',
     r"OptimizerBuilder.clip_grad_by_norm must be a number > 0"),
    ('OptimizerBuilder.clip_grad_by_norm=true',
     r"OptimizerBuilder.clip_grad_by_norm must be a number > 0"),
    ('OptimizerBuilder.regularizer.factor=-0.0001',
     r"OptimizerBuilder.regularizer.factor must be a number >= 0; got -0.0001 "
     r"\(e.g. -o OptimizerBuilder.regularizer.factor=0.0001\)$"),
    ('OptimizerBuilder.regularizer.factor=abc',
     r"OptimizerBuilder.regularizer.factor must be a number >= 0; got 'abc'"),
])
def test_a_bad_optimizer_number_is_refused_at_load(override, message):
    """``clip_grad_by_norm=-1`` trained uphill (Paddle's ClipGradByGlobalNorm(-1) flips the
    gradient's sign); ``abc`` failed in the optimizer with 'could not convert string to
    float' and no key; a negative factor decays the weights away from zero."""
    with pytest.raises(ConfigError, match='^' + message):
        load_config(R18, [override])


def test_good_optimizer_numbers_load():
    cfg = load_config(R18, ['OptimizerBuilder.clip_grad_by_norm=1e1',    # YAML 1.1: a string
                            'OptimizerBuilder.regularizer.factor=0'])
    assert cfg['OptimizerBuilder']['clip_grad_by_norm'] == 10.0
    assert cfg['OptimizerBuilder']['regularizer']['factor'] == 0.0
    off = load_config(R18, ['OptimizerBuilder.clip_grad_by_norm=null'])
    assert off['OptimizerBuilder']['clip_grad_by_norm'] is None


@pytest.mark.parametrize('override, message', [
    ('OptimizerBuilder.clip_grad_by_norm=-1',
     'error: OptimizerBuilder.clip_grad_by_norm must be a number > 0, or null for no clipping; '
     'got -1 (e.g. -o OptimizerBuilder.clip_grad_by_norm=10.0)'),
    ('OptimizerBuilder.clip_grad_by_norm=abc',
     "error: OptimizerBuilder.clip_grad_by_norm must be a number > 0, or null for no clipping; "
     "got 'abc'"),
    ('OptimizerBuilder.regularizer.factor=-1',
     'error: OptimizerBuilder.regularizer.factor must be a number >= 0; got -1'),
])
def test_a_bad_optimizer_number_stops_train_py(override, message):
    assert fail('tools/train.py', '-c', R18, '-o', override).startswith(message)


# -- V2: numbers YAML reads as strings, whole floats, for the top-level settings ----------------
def test_a_top_level_float_written_with_an_exponent_is_a_number():
    """``-o ema_decay=9998e-4`` (a string to YAML 1.1) was refused, though a component's
    float setting takes it."""
    assert load_config(R18, ['ema_decay=9998e-4'])['ema_decay'] == pytest.approx(0.9998)
    assert load_config(R18, ['ema_decay=1e-1'])['ema_decay'] == pytest.approx(0.1)
    for bad in ('abc', '.nan', 'nan', '[0.9]', 'true'):
        with pytest.raises(ConfigError, match=r"^ema_decay must be a number; got "):
            load_config(R18, ['ema_decay=%s' % bad])


def test_a_top_level_int_takes_a_whole_float_only():
    cfg = load_config(R18, ['epoch=2.0', 'snapshot_epoch=1.0', 'worker_num=0.0'])
    assert (cfg['epoch'], cfg['snapshot_epoch'], cfg['worker_num']) == (2, 1, 0)
    assert type(cfg['epoch']) is int
    assert load_config(R18, ['epoch=1e1'])['epoch'] == 10      # a float, as in YAML 1.2
    for bad in ('2.5', '2.5e0', 'abc'):
        with pytest.raises(ConfigError, match=r"^epoch must be an integer; got"):
            load_config(R18, ['epoch=%s' % bad])


# -- V3: a section set to null ---------------------------------------------------------------
@pytest.mark.parametrize('override, example', [
    ('ResNet=null', 'ResNet.depth'),
    ('ResNet=', 'ResNet.depth'),
    ('TrainReader=null', 'TrainReader.batch_size'),
    ('LearningRate=null', 'LearningRate.base_lr'),
    ('OptimizerBuilder=null', 'OptimizerBuilder.optimizer'),
    ('EvalDataset=null', 'EvalDataset.'),
])
def test_a_section_set_to_null_is_refused(override, example):
    """``-o ResNet=null`` wiped the section: the default full-width ResNet was built (9x
    slower training) without a word."""
    with pytest.raises(ConfigError, match=r"^override %r would drop the whole %s section \(each "
                                          r"of its settings back to the default\); set one key "
                                          r"instead, e.g. -o %s" % (
                                              override, override.split('=')[0], example)):
        load_config(R18, [override])


def test_null_where_no_section_is_lost_is_taken():
    assert 'Distill' not in load_config(R18)
    cfg = load_config(R18, ['Distill=null',                         # no such section anyway
                            'OptimizerBuilder.regularizer=null',    # a sub-section: no regularizer
                            'OptimizerBuilder.clip_grad_by_norm=null'])
    assert cfg['Distill'] is None and cfg['OptimizerBuilder']['regularizer'] is None
    assert load_config(R18, ['ResNet.depth=18'])['ResNet']['width_mult'] == 0.25


# -- V4: inputs_def.num_max_boxes is read by nothing ---------------------------------------------
class _Records(list):
    def __init__(self):
        super().__init__()
        import logging
        self.handler = logging.Handler()
        self.handler.emit = lambda record: self.append(record.getMessage())


@pytest.fixture
def warnings_logged():
    import logging
    records = _Records()
    log = logging.getLogger(workspace.__name__)
    log.addHandler(records.handler)
    yield records
    log.removeHandler(records.handler)


def test_inputs_def_num_max_boxes_is_taken_with_a_warning(tmp_path, warnings_logged):
    """It trained with no word; the did-you-mean for num_max_boxs steered users to it."""
    cfg = load_config(R18, ['TrainReader.inputs_def.num_max_boxes=5'])
    assert cfg['TrainReader']['inputs_def'] == {'num_max_boxes': 5}
    assert warnings_logged == ['TrainReader.inputs_def.num_max_boxes is read by nothing here: '
                               'the boxes are padded to PadBox.num_max_boxes (set that one)']
    del warnings_logged[:]
    path = _write(tmp_path, 'pd.yml', '_BASE_: [%s]\nEvalReader: {inputs_def: '
                                      '{num_max_boxes: 50}}\n' % R18)   # a PaddleDetection copy
    load_config(path)
    assert warnings_logged == ['EvalReader.inputs_def.num_max_boxes is read by nothing here: '
                               'the boxes are padded to PadBox.num_max_boxes (set that one)']
    del warnings_logged[:]
    load_config(R18)
    assert warnings_logged == []
    with pytest.raises(ConfigError, match=r"^unknown config key 'num_max_boxs' in override "
                                          r"'TrainReader.inputs_def.num_max_boxs=5' \(valid keys "
                                          r"of TrainReader.inputs_def: fields, image_shape\); the "
                                          r"boxes are padded to PadBox.num_max_boxes"):
        load_config(R18, ['TrainReader.inputs_def.num_max_boxs=5'])


# -- V5: an unknown architecture ------------------------------------------------------------
def test_an_unknown_architecture_suggests_architectures_only():
    """``-o architecture=Foo`` said "unknown component 'Foo'; did you mean 'FocalLoss'?"."""
    archs = sorted(n for n, c in workspace.get_registered().items()
                   if config_checks._is_architecture(c))
    assert 'YOLOv3' in archs and 'FocalLoss' not in archs
    with pytest.raises(ConfigError) as e:
        load_config(R18, ['architecture=Foo'])
    assert str(e.value) == ("unknown architecture 'Foo' (valid architectures: %s, or one that "
                            "a module in custom_imports registers)" % ', '.join(archs))
    with pytest.raises(ConfigError, match=r"^unknown architecture 'YOLOv4'; did you mean "
                                          r"'YOLOv3'\? \(valid architectures: BlazeFace, "):
        load_config(R18, ['architecture=YOLOv4'])
    with pytest.raises(ConfigError, match=r"^unknown architecture 'yolov3'; did you mean "
                                          r"'YOLOv3'\? \(names are case-sensitive; valid "
                                          r"architectures: BlazeFace, "):
        load_config(R18, ['architecture=yolov3'])
    with pytest.raises(ConfigError, match=r"^unknown architecture None"):
        load_config(R18, ['architecture=null'])


# -- V6: the metric message reads cleanly -----------------------------------------------------
def test_the_metric_message_reads_cleanly():
    with pytest.raises(ConfigError) as e:
        load_config(R18, ['metric=VOCC'])
    names = config_checks._metric_names()
    assert str(e.value) == ('unknown metric \'VOCC\' in config key "metric"; did you mean '
                            '\'VOC\' or \'COCO\'? (valid metrics: %s)' % ', '.join(names))
    with pytest.raises(ConfigError) as e:
        load_config(R18, ['metric=Zzzzzz'])
    assert str(e.value) == ('unknown metric \'Zzzzzz\' in config key "metric" (valid metrics: '
                            '%s)' % ', '.join(names))


def test_fuse_preprocess_is_the_config_key_export_docs_name():
    """tools/export_model.py's help names the config key fuse_preprocess (its default); the
    config system refused it as unknown ('did you mean find_unused_parameters')."""
    cfg_path = os.path.join(ROOT, 'configs', 'builtin', 'yolov3_r18_builtin.yml')
    assert load_config(cfg_path, overrides=['fuse_preprocess=true'])['fuse_preprocess'] is True
    with pytest.raises(ConfigError, match='fuse_preprocess must be true or false'):
        load_config(cfg_path, overrides=['fuse_preprocess=flase'])
