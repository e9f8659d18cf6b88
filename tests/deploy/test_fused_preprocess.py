"""--fuse_preprocess: normalisation + permute inside the exported graph, uint8 HWC input.

The fused export of a model must detect what the unfused export of the same model detects
on real photos (scikit-image, via ppdet/data/sample_photos.py), within a tight tolerance.
"""
import os

import numpy as np
import paddle
import pytest

from ppdet.deploy import Detector, Preprocessor, load_infer_cfg

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIZE = 128


def _yolov3(size=SIZE):
    import ppdet.modeling  # noqa: F401  (registers the components)
    from ppdet.core.workspace import create, load_config
    cfg = load_config(os.path.join(ROOT, 'configs', 'yolov3_mobilenet_v1.yml'),
                      overrides=['num_classes=3', 'MobileNetV1.scale=0.25',
                                 'YOLOv3FPN.base_channel=32', 'YOLOBox.conf_thresh=0.05',
                                 'MultiClassNMS.keep_top_k=20',
                                 'TestReader.inputs_def.image_shape=[3,%d,%d]' % (size, size)])
    cfg['TestReader']['sample_transforms'][1]['Resize']['target_size'] = [size, size]
    paddle.seed(0)
    return create(cfg['architecture'], cfg), cfg


@pytest.fixture(scope='module')
def exports(tmp_path_factory):
    from ppdet.engine.export import export_model
    model, cfg = _yolov3()
    root = tmp_path_factory.mktemp('fused')
    plain = export_model(model, cfg, str(root / 'plain'), ['a', 'b', 'c'])
    fused = export_model(model, cfg, str(root / 'fused'), ['a', 'b', 'c'], fuse_preprocess=True)
    return os.path.dirname(plain), os.path.dirname(fused)


@pytest.fixture(scope='module')
def real_photos():
    from ppdet.data.sample_photos import face_photos, no_face_photos
    photos = dict(face_photos())
    photos.update(no_face_photos())
    return photos


def test_infer_cfg_records_the_fusion(exports):
    plain, fused = exports
    cfg = load_infer_cfg(fused)
    assert cfg['fuse_preprocess'] is True and cfg['fused_ops'] == ['NormalizeImage', 'Permute']
    assert [op['type'] for op in cfg['Preprocess']] == ['Resize', 'NormalizeImage', 'Permute']
    assert load_infer_cfg(plain)['fuse_preprocess'] is False


def test_fused_preprocessor_only_resizes_on_uint8(exports, real_photos):
    plain, fused = exports
    im = real_photos['astronaut']
    a = Preprocessor(load_infer_cfg(plain))([im])
    b = Preprocessor(load_infer_cfg(fused))([im])
    assert b['image'].dtype == np.uint8 and b['image'].shape == (1, SIZE, SIZE, 3)
    np.testing.assert_array_equal(a['im_shape'], b['im_shape'])
    np.testing.assert_array_equal(a['scale_factor'], b['scale_factor'])
    # the unfused path's float image is the same uint8 pixels, normalised
    norm = (b['image'][0].astype('float32') / 255. - [0.485, 0.456, 0.406]) / [0.229, 0.224,
                                                                              0.225]
    np.testing.assert_allclose(a['image'][0], norm.transpose(2, 0, 1), atol=1e-5)


@pytest.mark.parametrize('run_mode', ['paddle', 'onnx'])
def test_fused_detections_equal_unfused_on_real_photos(exports, real_photos, run_mode):
    if run_mode == 'onnx':
        pytest.importorskip('paddle2onnx')
        pytest.importorskip('onnxruntime')
    plain, fused = exports
    names = sorted(real_photos)
    ims = [real_photos[n] for n in names]
    a = Detector(plain, run_mode).predict(ims)
    b = Detector(fused, run_mode).predict(ims)
    total = 0
    for name, ra, rb in zip(names, a, b):
        assert ra.shape == rb.shape, name
        order_a = np.lexsort((ra[:, 2], -ra[:, 1], ra[:, 0]))
        order_b = np.lexsort((rb[:, 2], -rb[:, 1], rb[:, 0]))
        np.testing.assert_allclose(ra[order_a], rb[order_b], rtol=0, atol=1e-3, err_msg=name)
        total += len(ra)
    assert total > 10   # the random head does detect something to compare


def test_a_reader_that_cannot_be_fused_is_refused(tmp_path):
    from ppdet.engine.export import export_model
    model, cfg = _yolov3(64)
    cfg['TestReader']['sample_transforms'] = [
        t for t in cfg['TestReader']['sample_transforms'] if 'NormalizeImage' not in t]
    with pytest.raises(ValueError, match='fuse_preprocess needs a TestReader ending in'):
        export_model(model, cfg, str(tmp_path / 'x'), ['a', 'b', 'c'], fuse_preprocess=True)


def test_unfused_fast_path_is_bit_identical_to_the_ops(exports, real_photos):
    """The usual Resize/NormalizeImage/Permute reader runs in place, with the same result."""
    from ppdet.deploy.preprocess import build_ops
    plain, _ = exports
    cfg = load_infer_cfg(plain)
    pre = Preprocessor(cfg)
    assert pre._usual
    ops = build_ops(cfg['Preprocess'])
    for im in real_photos.values():
        sample = {'image': im, 'im_shape': np.array(im.shape[:2], 'float32'),
                  'scale_factor': np.array([1., 1.], 'float32')}
        for op in ops:
            sample = op(sample)
        fast = pre.one(im)
        np.testing.assert_array_equal(fast['image'], sample['image'])
        np.testing.assert_array_equal(fast['scale_factor'], sample['scale_factor'])
        np.testing.assert_array_equal(fast['im_shape'], sample['im_shape'])


def test_fused_normalisation_is_the_eval_arithmetic_on_channel_planes(tmp_path):
    """The eval transforms' (x / 255 - mean) / std, computed after the HWC -> CHW permute so
    that the per-channel ops broadcast over NCHW planes (over NHWC's innermost 3 they were 4x
    slower on oneDNN): the same values bit for bit as the same ops before the permute, and
    in the exported graph the transpose comes first."""
    import paddle
    from paddle.static import InputSpec
    from ppdet.modeling.architectures.inference_model import FusedPreprocess
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    pre = FusedPreprocess(mean, std)
    img = np.random.RandomState(5).randint(0, 256, (2, 7, 9, 3)).astype('uint8')
    out = pre(paddle.to_tensor(img)).numpy()
    x = paddle.cast(paddle.to_tensor(img), 'float32') / 255.      # the order it replaced
    before = ((x - paddle.to_tensor(mean, 'float32').reshape([1, 1, 1, -1])) /
              paddle.to_tensor(std, 'float32').reshape([1, 1, 1, -1])).transpose([0, 3, 1, 2])
    np.testing.assert_array_equal(out, before.numpy())
    ref = (img.astype('float32') / 255. - np.float32(mean)) / np.float32(std)
    np.testing.assert_allclose(out, ref.transpose(0, 3, 1, 2), rtol=0, atol=1e-6)
    paddle.jit.save(paddle.jit.to_static(pre, input_spec=[InputSpec([1, 7, 9, 3], 'uint8')]),
                    str(tmp_path / 'model'))
    from ppdet.utils.static_graph import load_program
    types = [op.type for op in load_program(tmp_path)[0].global_block().ops]
    assert types.index('transpose2') < types.index('elementwise_sub') < types.index(
        'elementwise_div')
