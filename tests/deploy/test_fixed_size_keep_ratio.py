"""A dense detector exported at a fixed size whose reader keeps the ratio (the full-size
RetinaNet / FCOS configs: Resize within [800, 1333], image_shape [3, 800, 1333]) runs on a
photo of another shape: it failed in the graph ('Broadcast dimension mismatch' between the
FPN's upsampled map and the lateral one), on every runtime."""
import os

import paddle
import pytest

import ppdet.modeling  # noqa: F401  (registers the components)
from ppdet.core.workspace import create, load_config
from ppdet.deploy import Preprocessor, create_predictor, load_infer_cfg, match_batch
from ppdet.engine.export import export_model

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope='module')
def model_dir(tmp_path_factory):
    cfg = load_config(os.path.join(ROOT, 'configs', 'builtin', 'retinanet_r18_builtin.yml'),
                      overrides=['TestReader.inputs_def.image_shape=[3,192,256]'])
    resize = [t for t in cfg['TestReader']['sample_transforms'] if 'Resize' in t][0]['Resize']
    resize.update({'target_size': [192, 256], 'keep_ratio': True})
    paddle.seed(0)
    out = str(tmp_path_factory.mktemp('fixed_keep_ratio'))
    export_model(create(cfg['architecture'], cfg), cfg, out, list('abcdef'))
    return out


def test_a_square_photo_runs_and_runtimes_agree(model_dir, photo):
    info = load_infer_cfg(model_dir)
    assert info['image_shape'] == [3, 192, 256]
    inputs = Preprocessor(info)([photo])            # 160x160 -> 192x192, padded to 192x256
    assert inputs['image'].shape == (1, 3, 192, 256)
    ref = create_predictor(model_dir, 'paddle').run(inputs)
    assert ref['bbox'].shape[-1] == 6
    pytest.importorskip('paddle2onnx')
    r = match_batch(ref, create_predictor(model_dir, 'onnx').run(inputs))
    assert r['matched_fraction'] == 1.0, r


@pytest.mark.parametrize('hw', [(320, 160), (100, 300), (96, 128)])
def test_a_portrait_or_wide_photo_is_fitted_inside_the_export(model_dir, photo, hw):
    """A portrait photo's keep-ratio resize is taller than the export (within [192, 256]:
    320x160 -> 256x128 > 192): the graph refused it ('Broadcast dimension mismatch'), so
    every portrait photo failed on the shipped full-size RetinaNet / FCOS exports."""
    import cv2
    im = cv2.resize(photo, (hw[1], hw[0]))
    inputs = Preprocessor(load_infer_cfg(model_dir))([im])
    assert inputs['image'].shape == (1, 3, 192, 256)
    nh, nw = inputs['im_shape'][0]
    assert nh <= 192 and nw <= 256 and max(nh / 192., nw / 256.) > 0.99     # fits, touching
    sy, sx = inputs['scale_factor'][0]
    assert abs(sy - sx) < 0.02 and abs(sy * hw[0] - nh) < 1 and abs(sx * hw[1] - nw) < 1
    out = create_predictor(model_dir, 'paddle').run(inputs)
    assert out['bbox'].shape[-1] == 6
    boxes = out['bbox'][:int(out['bbox_num'][0])]
    assert (boxes[:, [2, 4]] <= hw[1] + 1e-3).all() and (boxes[:, [3, 5]] <= hw[0] + 1e-3).all()
