"""A missing annotation file names the fix of its own dataset: the face set's generator
for WIDER FACE (it used to name the shapes set's), what a COCO face set is and which
config to use instead, the shapes set's generator for the built-in COCO / VOC (into the
directory the config reads), where COCO 2017 / Pascal VOC come from and their layout for
the real ones (the shapes set's generator, which makes no such file, used to be named), and
for export / infer of a COCO model the 80 COCO class names without the json."""
import os
import subprocess
import sys

import pytest

from ppdet.core.workspace import load_config
from ppdet.data import build_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FACE = os.path.join(ROOT, 'configs', 'face_detection')


def _missing(config, section, dataset_dir):
    cfg = load_config(os.path.join(ROOT, config),
                      overrides=['%s.dataset_dir=%s' % (section, dataset_dir)])
    with pytest.raises(FileNotFoundError) as e:
        build_dataset(cfg, section)
    return str(e.value)


def test_wider_face_names_the_face_generator_and_the_real_layout(tmp_path):
    where = str(tmp_path / 'wider_face_builtin')
    msg = _missing('configs/face_detection/blazeface_builtin.yml', 'TrainDataset', where)
    assert 'python tools/gen_face_dataset.py --output_dir %s' % where in msg
    assert 'gen_dataset.py' not in msg
    assert 'wider_face_split/, WIDER_train/images/' in msg
    msg = _missing('configs/datasets/wider_face.yml', 'EvalDataset', str(tmp_path / 'wider'))
    assert '--output_dir dataset/wider_face_builtin' in msg


def test_coco_face_set_says_what_it_is_and_which_config_to_use(tmp_path):
    msg = _missing('configs/face_detection/mediapipe_blazeface_128.yml', 'EvalDataset',
                   str(tmp_path / 'faces_coco'))
    assert 'COCO-format face set of your own' in msg
    assert '-c configs/face_detection/mediapipe_blazeface_builtin.yml' in msg
    assert os.path.isfile(os.path.join(FACE, 'mediapipe_blazeface_builtin.yml'))
    assert 'gen_dataset.py' not in msg
    assert load_config(os.path.join(FACE, 'mediapipe_blazeface_128.yml'))[
        'EvalDataset']['dataset_dir'] == 'dataset/faces_coco'


def test_builtin_shapes_keep_the_shapes_generator(tmp_path):
    """Into the directory the config reads (``--output_dir dataset/builtin`` made nothing
    that a config pointing elsewhere reads)."""
    for config, layout in (('builtin_coco.yml', 'coco'), ('builtin_voc.yml', 'voc')):
        msg = _missing('configs/datasets/' + config, 'EvalDataset',
                       str(tmp_path / 'builtin' / layout))
        assert msg.endswith('For the built-in dataset run: python tools/gen_dataset.py '
                            '--output_dir %s' % (tmp_path / 'builtin')), msg
    msg = _missing('configs/datasets/builtin_coco.yml', 'EvalDataset', 'dataset/builtin/coco')
    assert msg.endswith('python tools/gen_dataset.py --output_dir dataset/builtin')


def test_real_coco_names_the_download_the_layout_and_the_flags(tmp_path):
    where = str(tmp_path / 'coco')
    msg = _missing('configs/datasets/coco_detection.yml', 'TrainDataset', where)
    assert 'https://cocodataset.org/#download' in msg
    assert ('unzip them into %s, so that it holds annotations/instances_train2017.json, '
            'annotations/instances_val2017.json, train2017/ and val2017/' % where) in msg
    assert '-o TrainDataset.dataset_dir=DIR EvalDataset.dataset_dir=DIR' in msg
    assert 'For the built-in dataset run' not in msg   # the generator makes no such file
    assert "built-in dataset has its own configs, configs/builtin/*.yml" in msg


def test_real_voc_names_the_download_the_layout_and_the_flags(tmp_path):
    where = str(tmp_path / 'voc')
    for section in ('TrainDataset', 'EvalDataset'):
        msg = _missing('configs/datasets/voc.yml', section, where)
        assert 'http://host.robots.ox.ac.uk/pascal/VOC/' in msg
        assert 'unpack them into %s/VOCdevkit/' % where in msg
        assert ('"VOCdevkit/VOC2007/JPEGImages/000005.jpg VOCdevkit/VOC2007/Annotations/'
                '000005.xml"') in msg and 'label_list.txt' in msg
        assert '-o TrainDataset.dataset_dir=DIR EvalDataset.dataset_dir=DIR' in msg
        assert 'For the built-in dataset run' not in msg


def test_voc_label_list_missing_gets_the_voc_hint_too(tmp_path):
    where = tmp_path / 'voc'
    where.mkdir()
    (where / 'test.txt').write_text('JPEGImages/a.jpg Annotations/a.xml\n')
    msg = _missing('configs/datasets/voc.yml', 'EvalDataset', str(where))
    assert msg.startswith('label list %s not found' % (where / 'label_list.txt'))
    assert 'VOCdevkit' in msg and 'For the built-in dataset run' not in msg


def test_coco_model_exports_with_the_80_coco_names_without_the_json(tmp_path, ppdet_log):
    """PaddleDetection's fallback: export / infer of a COCO model need no COCO download."""
    cfg = load_config(os.path.join(ROOT, 'configs/yolov3_mobilenet_v1.yml'),
                      overrides=['TestDataset.dataset_dir=%s' % tmp_path])
    assert cfg['num_classes'] == 80
    ds = build_dataset(cfg, 'TestDataset')
    names = ds.label_list()
    assert len(names) == 80 and names[:3] == ['person', 'bicycle', 'car']
    assert names[-1] == 'toothbrush' and len(set(names)) == 80
    assert ds.clsid2catid[0] == 1 and ds.clsid2catid[79] == 90 and ds.clsid2catid[11] == 13
    assert 'using the 80 COCO class names' in ppdet_log.text


def test_voc_model_exports_with_the_20_voc_names_without_the_label_list(tmp_path, ppdet_log):
    """The same for a Pascal VOC model (num_classes 20, a label_list.txt that is not there):
    export / infer of it refused the missing file."""
    cfg = load_config(os.path.join(ROOT, 'configs/distill/yolov3_r34_voc_teacher.yml'),
                      overrides=['TestDataset.dataset_dir=%s' % tmp_path])
    assert cfg['num_classes'] == 20 and cfg['TestDataset']['anno_path'] == 'label_list.txt'
    names = build_dataset(cfg, 'TestDataset').label_list()
    assert len(names) == 20 == len(set(names))
    assert names[:3] == ['aeroplane', 'bicycle', 'bird'] and names[-1] == 'tvmonitor'
    assert names == sorted(names)      # PaddleDetection's label_list.txt is alphabetical
    assert 'using the 20 Pascal VOC class names' in ppdet_log.text
    with pytest.raises(FileNotFoundError, match='label source .*label_list.txt not found'):
        build_dataset(load_config(os.path.join(ROOT, 'configs/distill/yolov3_r34_voc_teacher.yml'),
                                  overrides=['TestDataset.dataset_dir=%s' % tmp_path,
                                             'num_classes=21']), 'TestDataset')


def test_label_source_missing_otherwise_says_what_it_is_for(tmp_path):
    cfg = load_config(os.path.join(ROOT, 'configs/yolov3_mobilenet_v1.yml'),
                      overrides=['TestDataset.dataset_dir=%s' % tmp_path, 'num_classes=20'])
    with pytest.raises(FileNotFoundError) as e:
        build_dataset(cfg, 'TestDataset')
    msg = str(e.value)
    assert msg.startswith('label source %s not found' % (
        tmp_path / 'annotations' / 'instances_val2017.json'))
    assert 'TestDataset reads only the class names from it' in msg
    assert '-o TestDataset.dataset_dir=DIR TestDataset.anno_path=FILE' in msg
    assert 'gen_dataset.py' not in msg


def test_train_script_gives_the_face_generator(tmp_path):
    where = str(tmp_path / 'wider_face_builtin')
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', '-c', os.path.join(FACE, 'blazeface_builtin.yml'),
         '-o', 'TrainDataset.dataset_dir=' + where, 'EvalDataset.dataset_dir=' + where,
         'save_dir=' + str(tmp_path / 'out')],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    last = proc.stderr.rstrip().splitlines()[-1]
    assert last.startswith('error: WIDER FACE ground-truth file') and \
        'gen_face_dataset.py --output_dir %s' % where in last, last


def test_train_script_gives_the_coco_download(tmp_path):
    """The audit's command: tools/train.py -c configs/yolov3_mobilenet_v1.yml."""
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', '-c', 'configs/yolov3_mobilenet_v1.yml',
         '-o', 'TrainDataset.dataset_dir=%s' % (tmp_path / 'coco'),
         'save_dir=' + str(tmp_path / 'out')],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT))
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr, proc.stdout + proc.stderr
    last = proc.stderr.rstrip().splitlines()[-1]
    assert last.startswith('error: annotation file %s not found' % (
        tmp_path / 'coco' / 'annotations' / 'instances_train2017.json')), last
    assert 'cocodataset.org' in last and 'For the built-in dataset run' not in last, last
