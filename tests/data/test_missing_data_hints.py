"""A missing annotation file names the fix of its own dataset: the face set's generator
for WIDER FACE (it used to name the shapes set's), what a COCO face set is and which
config to use instead, the shapes set's generator for the built-in COCO / VOC."""
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
    msg = _missing('configs/datasets/builtin_coco.yml', 'EvalDataset',
                   str(tmp_path / 'builtin' / 'coco'))
    assert 'python tools/gen_dataset.py --output_dir dataset/builtin' in msg


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
