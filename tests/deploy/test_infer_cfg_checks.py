"""Hand-edited infer_cfg.yml values are checked when the export is loaded: one ValueError
naming the file, the key and the expected form (deploy/python/infer.py: one ``error:`` line,
exit 2), not a runtime's traceback deep in the graph, or a silent wrong run.

Each test edits a copy of a real export (tests/deploy/deploy_models.py)."""
import os
import shutil

import numpy as np
import pytest
import yaml

from deploy_models import TINY_SIZE, export_yolov3
from test_bad_input_deploy import INFER, fail

from ppdet.deploy import Detector, Preprocessor, load_infer_cfg
from ppdet.deploy.infer_cfg import CFG_FILE, update_infer_cfg


def edited(model_dir, tmp_path, edit=None, **changes):
    """A copy of the export ``model_dir`` whose infer_cfg.yml has ``changes`` set and
    ``edit(cfg)`` applied (nested values); -> (its directory, its infer_cfg.yml)."""
    out = str(tmp_path / 'edited')
    shutil.copytree(model_dir, out)
    path = os.path.join(out, CFG_FILE)
    if edit is not None:
        with open(path) as f:
            cfg = yaml.safe_load(f)
        edit(cfg)
        changes = dict(cfg, **changes)
    update_infer_cfg(out, **changes)
    return out, path


def resize_to(*size):
    def edit(cfg):
        cfg['Preprocess'][0]['target_size'] = list(size)
    return edit


def refused(model_dir, *parts):
    """load_infer_cfg(model_dir) raises one ValueError line that holds every one of ``parts``."""
    with pytest.raises(ValueError) as e:
        load_infer_cfg(model_dir)
    msg = str(e.value)
    assert '\n' not in msg and all(p in msg for p in parts), msg
    return msg


@pytest.fixture(scope='module')
def dynamic_yolov3_dir(tmp_path_factory):
    return export_yolov3(str(tmp_path_factory.mktemp('yolov3_dynamic')), size=None)


# -- problem 1: a Resize to another size than the fixed exported input -------------------------
def test_resize_other_than_the_exported_size_is_refused(yolov3_model_dir, tmp_path):
    """A YOLOv3 exported at 128 x 128 ran silently at 192 x 128 with Paddle."""
    d, path = edited(yolov3_model_dir, tmp_path, resize_to(192, 128))
    refused(d, path, 'Resize target_size [192, 128]',
            'exported with (image_shape [3, 128, 128])', 'set target_size back to [128, 128]',
            're-export', 'tools/export_model.py')
    with pytest.raises(ValueError, match='Resize target_size'):
        Detector(d)


@pytest.mark.parametrize('run_mode', ['onnx', 'paddle'])
def test_infer_script_says_so_in_one_line(tiny_model_dir, tmp_path, photo, run_mode):
    """It was onnxruntime's InvalidArgument traceback, or Paddle's multi-line ReshapeOp error."""
    import cv2
    d, path = edited(tiny_model_dir, tmp_path, resize_to(TINY_SIZE + 32, TINY_SIZE))
    image = str(tmp_path / 'photo.jpg')
    cv2.imwrite(image, photo[:, :, ::-1])
    err = fail(INFER, '--model_dir', d, '--image_file', image, '--run_mode', run_mode,
               '--output_dir', tmp_path / 'out')
    assert 'error: %s: the Resize target_size [%d, %d]' % (path, TINY_SIZE + 32, TINY_SIZE) in err
    assert 'image_shape [3, %d, %d]' % (TINY_SIZE, TINY_SIZE) in err


def test_a_dynamic_size_export_takes_any_resize(dynamic_yolov3_dir, tmp_path, photo):
    d, _ = edited(dynamic_yolov3_dir, tmp_path, resize_to(96, 128))
    det = Detector(d)
    try:
        assert det.preprocess([photo])['image'].shape == (1, 3, 96, 128)
        assert det.predict([photo])[0].shape[1] == 6
    finally:
        det.close()


def test_image_shape_must_be_chw(tiny_model_dir, tmp_path):
    d, path = edited(tiny_model_dir, tmp_path, image_shape=[TINY_SIZE, TINY_SIZE])
    refused(d, path, 'image_shape must be [3, H, W]', 'got [64, 64]')


# -- problem 2: Preprocess not a list of steps --------------------------------------------------
@pytest.mark.parametrize('preprocess,shown', [
    (None, 'got None'),
    ({'type': 'Resize', 'target_size': [64, 64]}, "got {'type': 'Resize'"),
    (['Resize'], "got ['Resize']"),
])
def test_preprocess_must_be_a_list_of_steps(tiny_model_dir, tmp_path, preprocess, shown):
    d, path = edited(tiny_model_dir, tmp_path, Preprocess=preprocess)
    refused(d, path + ': Preprocess must be a list of steps like [{type: Resize', shown)
    with pytest.raises(ValueError, match='Preprocess must be a list of steps'):
        Preprocessor({'Preprocess': preprocess})


# -- problem 3: label_list, draw_threshold, NormalizeImage mean/std -----------------------------
@pytest.mark.parametrize('labels,shown', [
    ('face', "got 'face'"),                      # drawn as 'f', 'a', ... by class id
    ({'cat': 0}, "got {'cat': 0}"),
    (['cat', 1, 'bird'], "got ['cat', 1, 'bird'] (quote names YAML reads as numbers"),
])
def test_label_list_must_be_names(tiny_model_dir, tmp_path, labels, shown):
    d, path = edited(tiny_model_dir, tmp_path, label_list=labels)
    refused(d, path + ': label_list must be a list of class names (strings)', shown)


def test_label_list_must_name_each_class_of_the_model(tiny_model_dir, tmp_path):
    """The tiny detector's NMS scores 3 classes."""
    d, path = edited(tiny_model_dir, tmp_path, label_list=['cat', 'dog'])
    refused(d, path + ': label_list has 2 names but the model has 3 classes',
            'one name per class, in class-id order')


@pytest.mark.parametrize('value', ['abc', 1.5, -0.1, True])
def test_draw_threshold_must_be_a_score(tiny_model_dir, tmp_path, value):
    d, path = edited(tiny_model_dir, tmp_path, draw_threshold=value)
    refused(d, path + ': draw_threshold must be a number in [0, 1]', 'got %r' % value)


@pytest.mark.parametrize('key,value', [('mean', [0.5, 0.5]), ('std', [0.2] * 4),
                                       ('mean', 0.5), ('std', ['a', 'b', 'c'])])
def test_normalize_values_are_one_per_channel(tiny_model_dir, tmp_path, key, value):
    def edit(cfg):
        cfg['Preprocess'][1][key] = value
    d, path = edited(tiny_model_dir, tmp_path, edit)
    refused(d, 'NormalizeImage in %s: %s must be 3 numbers (one per R, G, B channel), got %r'
            % (path, key, value))


# -- what the project's export writes still loads as written ------------------------------------
def test_exported_files_load_unchanged(tiny_model_dir, yolov3_model_dir, dynamic_yolov3_dir):
    for d in (tiny_model_dir, yolov3_model_dir, dynamic_yolov3_dir):
        with open(os.path.join(d, CFG_FILE)) as f:
            written = yaml.safe_load(f)
        cfg = load_infer_cfg(d)
        assert {k: cfg[k] for k in written} == written
    assert Preprocessor(load_infer_cfg(yolov3_model_dir))(
        [np.zeros((50, 70, 3), np.uint8)])['image'].shape == (1, 3, 128, 128)


def test_empty_settings_take_their_defaults(tiny_model_dir, tmp_path):
    d, _ = edited(tiny_model_dir, tmp_path, draw_threshold=None, label_list=None)
    cfg = load_infer_cfg(d)
    assert cfg['draw_threshold'] == 0.5 and cfg['label_list'] == []
