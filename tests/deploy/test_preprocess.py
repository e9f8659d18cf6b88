"""Preprocessing from infer_cfg.yml: same math as the eval transforms, batch assembly."""
import cv2
import numpy as np
import pytest

from ppdet.deploy import Preprocessor, decode_image, load_infer_cfg
from ppdet.utils.visualizer import save_result_image


def test_resize_normalize_permute_by_hand(tiny_model_dir, photo):
    cfg = load_infer_cfg(tiny_model_dir)
    im = photo[:120, :150]
    out = Preprocessor(cfg)([im])
    resized = cv2.resize(im, (64, 64), interpolation=cv2.INTER_CUBIC).astype('float32') / 255.
    expect = ((resized - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]).transpose(2, 0, 1)
    assert out['image'].shape == (1, 3, 64, 64) and out['image'].dtype == np.float32
    np.testing.assert_allclose(out['image'][0], expect, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out['im_shape'], [[64, 64]])
    np.testing.assert_allclose(out['scale_factor'], [[64 / 120., 64 / 150.]], rtol=1e-6)


def test_batch_of_different_sizes(tiny_model_dir, images):
    out = Preprocessor(load_infer_cfg(tiny_model_dir))(images)
    assert out['image'].shape == (3, 3, 64, 64)
    assert out['scale_factor'].shape == (3, 2) and out['im_shape'].dtype == np.float32
    np.testing.assert_allclose(out['scale_factor'][2], [64 / 120., 64 / 90.], rtol=1e-6)


def test_keep_ratio_resize_pads_the_batch():
    cfg = {'Preprocess': [{'type': 'Resize', 'target_size': [40, 60], 'keep_ratio': True,
                           'interp': 1}, {'type': 'Permute'}]}
    out = Preprocessor(cfg)([np.zeros((20, 20, 3), np.uint8), np.ones((10, 30, 3), np.uint8)])
    assert out['image'].shape == (2, 3, 40, 60)
    np.testing.assert_allclose(out['scale_factor'], [[2, 2], [2, 2]])
    np.testing.assert_allclose(out['im_shape'], [[40, 40], [20, 60]])
    assert not out['image'][1, :, 20:].any()            # zero padding below image 2


def test_a_fixed_size_export_gets_its_size_after_a_keep_ratio_resize():
    """The full-size RetinaNet / FCOS readers keep the ratio within [800, 1333] and export at
    [3, 800, 1333]: a photo resized to 800x800 failed in the graph.  It is padded to the
    export's size (bottom, right): with 0 after normalising, or for a fused export with the
    uint8 pixel its graph normalises to ~0."""
    norm = {'type': 'NormalizeImage', 'mean': [0.485, 0.456, 0.406],
            'std': [0.229, 0.224, 0.225], 'is_scale': True}
    resize = {'type': 'Resize', 'target_size': [40, 60], 'keep_ratio': True, 'interp': 1}
    cfg = {'image_shape': [3, 40, 60], 'Preprocess': [resize, norm, {'type': 'Permute'}]}
    photo = np.full((20, 20, 3), 200, np.uint8)
    out = Preprocessor(cfg)([photo])
    assert out['image'].shape == (1, 3, 40, 60)
    np.testing.assert_allclose(out['im_shape'], [[40, 40]])
    assert not out['image'][0, :, :, 40:].any() and out['image'][0, :, :, :40].all()
    fused = Preprocessor(dict(cfg, fuse_preprocess=True))([photo, photo[:10]])
    assert fused['image'].shape == (2, 40, 60, 3) and fused['image'].dtype == np.uint8
    np.testing.assert_array_equal(fused['image'][0, 0, 45], [124, 116, 104])   # the mean
    np.testing.assert_array_equal(fused['image'][1, 30, 10], [124, 116, 104])
    dynamic = Preprocessor(dict(cfg, image_shape=[3, -1, -1]))([photo])
    assert dynamic['image'].shape == (1, 3, 40, 40)       # a dynamic export: no padding


def test_decode_image_is_rgb(tmp_path, photo):
    path = save_result_image(str(tmp_path / 'p.png'), photo)
    np.testing.assert_array_equal(decode_image(path), photo)


def test_training_only_ops_are_refused():
    with pytest.raises(ValueError, match="unsupported preprocess op 'RandomFlip'"):
        Preprocessor({'Preprocess': [{'type': 'RandomFlip'}]})
    with pytest.raises(ValueError, match='bad arguments for Resize'):
        Preprocessor({'Preprocess': [{'type': 'Resize', 'size': 3}]})
