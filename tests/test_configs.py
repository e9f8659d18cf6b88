"""Consistency of the YAML configs under configs/: keys nothing reads are gone, the
full-size YOLOv3 configs bound NMS alike, the built-in QAT config's decay follows ``epoch``,
and the configs no other code or test names (configs/datasets/builtin_voc.yml,
configs/slim/quant/yolov3_r18_builtin_qat.yml) load, build and run."""
import glob
import os

import paddle
import pytest
import yaml

from ppdet.core.workspace import create, load_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, 'configs')
ALL = sorted(glob.glob(os.path.join(CONFIGS, '**', '*.yml'), recursive=True))
QAT = os.path.join(CONFIGS, 'slim', 'quant', 'yolov3_r18_builtin_qat.yml')
BUILTIN_VOC = os.path.join(CONFIGS, 'datasets', 'builtin_voc.yml')
BUILTIN_YOLOV3 = os.path.join(CONFIGS, 'builtin', 'yolov3_r18_builtin.yml')


def _rel(path):
    return os.path.relpath(path, CONFIGS)


def _raw(path):
    with open(path) as f:
        return yaml.safe_load(f) or {}


@pytest.mark.parametrize('path', ALL, ids=_rel)
def test_train_reader_sets_no_dead_num_max_boxes(path):
    """``TrainReader.inputs_def.num_max_boxes`` is read by nothing (ppdet.data.reader reads
    only ``inputs_def.fields``); ``PadBox.num_max_boxes`` is what pads the boxes."""
    inputs_def = (_raw(path).get('TrainReader') or {}).get('inputs_def') or {}
    assert 'num_max_boxes' not in inputs_def, 'set PadBox.num_max_boxes instead'


def test_padbox_still_sets_the_box_count():
    for name, count in (('_base_/yolov3_reader.yml', 50),
                        ('retinanet/_base_/dense_reader_800.yml', 100),
                        ('builtin/yolov3_mobilenet_v1_builtin.yml', 30),
                        ('builtin/retinanet_r18_builtin.yml', 30),
                        ('builtin/fcos_r18_builtin.yml', 30)):
        ops = _raw(os.path.join(CONFIGS, name))['TrainReader']['batch_transforms']
        assert {'PadBox': {'num_max_boxes': count}} in ops, name


def _full_size_yolov3():
    """(path, merged config) of every YOLOv3 config at the full 608 input, distillation
    teachers included."""
    from ppdet.utils.model_stats import config_input_size
    out = []
    for path in ALL:
        cfg = load_config(path)
        if cfg.get('architecture') != 'YOLOv3':
            continue
        try:
            size = config_input_size(cfg)
        except ValueError:      # a model-only base (no readers)
            continue
        if size == [608, 608]:
            out.append((path, cfg))
    return out


def test_full_size_yolov3_configs_bound_nms_alike():
    found = _full_size_yolov3()
    names = {_rel(p) for p, _ in found}
    assert {'yolov3_mobilenet_v1.yml', 'yolov3_mobilenet_v1_voc.yml', 'yolov3_r34.yml',
            'yolov3_r50vd_dcn.yml', 'distill/yolov3_r34_voc_teacher.yml'} <= names, names
    nms = {_rel(p): {k: cfg['MultiClassNMS'].get(k) for k in ('pre_nms_top_k', 'nms_top_k',
                                                                'keep_top_k')}
           for p, cfg in found}
    assert all(v == {'pre_nms_top_k': 1000, 'nms_top_k': 1000, 'keep_top_k': 100}
               for v in nms.values()), nms


def test_distillation_teacher_bounds_nms_like_its_student():
    for path in glob.glob(os.path.join(CONFIGS, 'distill', '*.yml')):
        cfg = load_config(path)
        teacher = (cfg.get('Distill') or {}).get('teacher_config')
        if not teacher:
            continue
        teacher_cfg = load_config(os.path.join(os.path.dirname(path), teacher))
        assert teacher_cfg['MultiClassNMS'].get('pre_nms_top_k') == \
            cfg['MultiClassNMS'].get('pre_nms_top_k'), (_rel(path), teacher)


# -- configs/slim/quant/yolov3_r18_builtin_qat.yml ----------------------------------------
def _cosine_t_max(lr):
    while not isinstance(lr, paddle.optimizer.lr.CosineAnnealingDecay):
        lr = lr.learning_rate       # a LinearWarmup around it
    return lr.T_max


@pytest.mark.parametrize('epoch', [None, 3, 8])
def test_qat_cosine_decay_follows_epoch(epoch):
    """The built-in convention (yolov3_mobilenet_v1_builtin.yml): the cosine runs over
    ``epoch``, so ``-o epoch=8`` decays to its minimum too (with max_epochs: 5 a 3-epoch
    run ended with 35% of the decay still to go)."""
    from ppdet.engine.optimizer import build_lr
    cfg = load_config(QAT, overrides=['epoch=%d' % epoch] if epoch else [])
    schedulers = cfg['LearningRate']['schedulers']
    assert [s['name'] for s in schedulers] == ['CosineDecay', 'LinearWarmup']
    assert 'max_epochs' not in schedulers[0]
    epochs, steps = int(cfg['epoch']), 50
    lr = build_lr(cfg, steps, epochs)
    assert _cosine_t_max(lr) == epochs * steps - schedulers[1]['steps']  # after the warm-up
    for _ in range(epochs * steps):
        lr.step()
    base = cfg['LearningRate']['base_lr']
    assert lr() == pytest.approx(base * schedulers[0]['min_lr_ratio'])


def test_qat_config_is_the_pipelines_aware_schedule():
    """The config's schedule is the one the README's `aware` rows were trained with
    (tools/pipeline.py: QAT_LR for FINETUNE_EPOCHS on the float config's schedulers); it
    said 5 epochs at 0.0002, "a tenth of" a float rate that had become 0.003."""
    from ppdet.pipeline.main_job import FINETUNE_EPOCHS, QAT_LR
    cfg, base = load_config(QAT), load_config(os.path.join(CONFIGS, 'builtin',
                                                           'yolov3_r18_builtin.yml'))
    assert cfg['epoch'] == FINETUNE_EPOCHS
    assert cfg['LearningRate']['base_lr'] == pytest.approx(QAT_LR)
    assert cfg['LearningRate']['schedulers'] == base['LearningRate']['schedulers']


def test_qat_config_builds_and_quantizes():
    from ppdet.slim.qat import QATStep
    cfg = load_config(QAT)
    assert cfg['architecture'] == 'YOLOv3' and cfg['num_classes'] == 6
    model = create(cfg['architecture'], cfg)
    model, record = QATStep.from_config(cfg).apply(model)
    quantized = [n for n, l in model.named_sublayers() if type(l).__name__.startswith('Quantized')]
    assert quantized
    assert not any(n.startswith('yolo_head.yolo_output') for n in quantized)
    assert record['not_quant_pattern'] == ['yolo_head.yolo_output']


def test_qat_config_post_quant_section_holds_the_script_defaults():
    """Its PostQuant section holds post_quant.py's defaults (as its header says)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'post_quant_script', os.path.join(ROOT, 'slim', 'quantization', 'post_quant.py'))
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    section = load_config(QAT)['PostQuant']
    assert section and all(section[k] == script.POST_QUANT_DEFAULTS[k] for k in section)


# -- configs/datasets/builtin_voc.yml --------------------------------------------------------
def _voc_config(tmp_path, dataset_dir, **extra):
    """The built-in YOLOv3 on the built-in dataset's VOC layout, the way the VOC configs
    combine a dataset file with a model (configs/yolov3_mobilenet_v1_voc.yml)."""
    voc = os.path.join(dataset_dir, 'voc')
    cfg = {'_BASE_': [BUILTIN_YOLOV3, BUILTIN_VOC],
           'TrainDataset': {'dataset_dir': voc}, 'EvalDataset': {'dataset_dir': voc},
           'TestDataset': {'dataset_dir': voc}}
    cfg.update(extra)
    path = os.path.join(str(tmp_path), 'builtin_voc_yolov3.yml')
    with open(path, 'w') as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
    return path


def test_builtin_voc_dataset_config_loads():
    cfg = load_config(BUILTIN_VOC)
    assert cfg['metric'] == 'VOC' and cfg['num_classes'] == 6
    assert cfg['TrainDataset']['name'] == cfg['EvalDataset']['name'] == 'VOCDataSet'


def test_builtin_voc_with_builtin_yolov3_trains_and_evaluates(tmp_path, tiny_dataset):
    from ppdet.data import build_dataset
    from ppdet.data.synthetic import CLASSES
    from ppdet.engine import Trainer
    from ppdet.metrics import VOCMetric, build_metric
    cfg = load_config(_voc_config(tmp_path, tiny_dataset), overrides=[
        'epoch=1', 'worker_num=0', 'log_iter=1', 'snapshot_epoch=1', 'TrainReader.batch_size=8',
        'EvalReader.batch_size=3', 'save_dir=%s' % os.path.join(str(tmp_path), 'output')])
    assert cfg['architecture'] == 'YOLOv3' and cfg['metric'] == 'VOC'
    train = build_dataset(cfg, 'TrainDataset')
    val = build_dataset(cfg, 'EvalDataset')
    assert train.label_list() == val.label_list() == list(CLASSES)
    assert (len(train), len(val)) == (16, 6)
    metric = build_metric(cfg, val)
    assert isinstance(metric, VOCMetric) and metric.detection_map.map_type == '11point'
    trainer = Trainer(cfg, mode='train')
    trainer.train()
    result = trainer.evaluate()
    assert result.primary_name == 'mAP' and 0.0 <= result.primary <= 1.0
