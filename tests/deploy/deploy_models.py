"""Exported model directories and test images shared by the deploy tests (imported by
conftest.py and the tests; a unique module name, since every test folder has a conftest)."""
import os
import shutil

import cv2
import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F
import pytest

from ppdet.engine.export import write_infer_cfg
from ppdet.modeling.ops import multiclass_nms

TINY_SIZE = 64
LABELS = ['cat', 'dog', 'bird']


class TinyDetector(nn.Layer):
    """A few convs -> one box + per-class scores per stride-8 cell -> multiclass_nms3.

    Same inputs/outputs as an exported YOLOv3, small enough for every backend in seconds.
    """

    def __init__(self, num_classes=3, size=TINY_SIZE, stride=8):
        super().__init__()
        self.num_classes, self.size, self.stride = num_classes, size, stride
        self.body = nn.Sequential(
            nn.Conv2D(3, 8, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2D(8, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2D(16, 16, 3, stride=2, padding=1), nn.ReLU())
        self.head = nn.Conv2D(16, 4 + num_classes, 1)
        g = size // stride
        ys, xs = np.meshgrid(np.arange(g), np.arange(g), indexing='ij')
        centers = (np.stack([xs, ys], -1).reshape(1, -1, 2) + 0.5) * stride
        self.register_buffer('centers', paddle.to_tensor(centers.astype('float32')))

    def forward(self, image, im_shape, scale_factor):
        out = self.head(self.body(image))                      # [N, 4+C, g, g]
        # reshape, not flatten: Paddle-Lite's opt crashes on flatten_contiguous_range; and
        # a static K: paddle2onnx's multiclass_nms3 multiplies class ids by K (-1 if dynamic)
        k = (self.size // self.stride) ** 2
        out = out.reshape([-1, 4 + self.num_classes, k]).transpose([0, 2, 1])  # [N, K, 4+C]
        xy = self.centers + paddle.tanh(out[:, :, 0:2]) * self.stride
        wh = F.sigmoid(out[:, :, 2:4]) * (self.size * 0.5) + 4.0
        # back to original pixels (x / scale_x, y / scale_y), clipped to the original image
        sy, sx = scale_factor[:, 0:1].unsqueeze(1), scale_factor[:, 1:2].unsqueeze(1)
        h = (im_shape[:, 0:1] / scale_factor[:, 0:1]).unsqueeze(1)
        w = (im_shape[:, 1:2] / scale_factor[:, 1:2]).unsqueeze(1)
        x1 = paddle.minimum(F.relu((xy[:, :, 0:1] - wh[:, :, 0:1] * 0.5) / sx), w)
        y1 = paddle.minimum(F.relu((xy[:, :, 1:2] - wh[:, :, 1:2] * 0.5) / sy), h)
        x2 = paddle.minimum(F.relu((xy[:, :, 0:1] + wh[:, :, 0:1] * 0.5) / sx), w)
        y2 = paddle.minimum(F.relu((xy[:, :, 1:2] + wh[:, :, 1:2] * 0.5) / sy), h)
        boxes = paddle.concat([x1, y1, x2, y2], axis=-1)        # [N, K, 4]
        scores = F.sigmoid(out[:, :, 4:]).transpose([0, 2, 1])  # [N, C, K]
        return multiclass_nms(boxes, scores, score_threshold=0.3, nms_top_k=100,
                              keep_top_k=20, nms_threshold=0.45)


class GroupNormTinyDetector(TinyDetector):
    """:class:`TinyDetector` whose convs are followed by GroupNorm (as FCOS's head): the
    programs the oneDNN GroupNorm rewrite works on."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.body = nn.Sequential(
            nn.Conv2D(3, 8, 3, stride=2, padding=1), nn.GroupNorm(4, 8), nn.ReLU(),
            nn.Conv2D(8, 16, 3, stride=2, padding=1), nn.GroupNorm(8, 16), nn.ReLU(),
            nn.Conv2D(16, 16, 3, stride=2, padding=1), nn.ReLU())
        for layer in self.body:
            if isinstance(layer, nn.GroupNorm):       # not the identity affine
                n = layer.weight.shape[0]
                layer.weight.set_value(np.linspace(0.5, 1.5, n).astype('float32'))
                layer.bias.set_value(np.linspace(-0.3, 0.3, n).astype('float32'))


def _tiny_cfg(size):
    return {'architecture': 'TinyDetector', 'metric': 'COCO',
            'TestReader': {'inputs_def': {'image_shape': [3, size, size]},
                           'sample_transforms': [
                               {'Decode': {}},
                               {'Resize': {'target_size': [size, size], 'keep_ratio': False,
                                           'interp': 2}},
                               {'NormalizeImage': {'mean': [0.485, 0.456, 0.406],
                                                   'std': [0.229, 0.224, 0.225],
                                                   'is_scale': True}},
                               {'Permute': {}}]}}


def save_tiny_export(model, out_dir):
    """Export ``model`` (a TinyDetector or a variant: its inputs and outputs) to ``out_dir``
    with the tiny detector's infer_cfg.yml; -> ``out_dir``."""
    model.eval()
    spec = [paddle.static.InputSpec([None, 3, TINY_SIZE, TINY_SIZE], 'float32', 'image'),
            paddle.static.InputSpec([None, 2], 'float32', 'im_shape'),
            paddle.static.InputSpec([None, 2], 'float32', 'scale_factor')]
    static = paddle.jit.to_static(model, input_spec=spec, full_graph=True)
    paddle.jit.save(static, os.path.join(out_dir, 'model'))
    write_infer_cfg(_tiny_cfg(TINY_SIZE), out_dir, LABELS)
    return out_dir


def export_tiny(out_dir, seed=0, group_norm=False):
    paddle.seed(seed)
    return save_tiny_export(GroupNormTinyDetector() if group_norm else TinyDetector(), out_dir)


def export_yolov3(out_dir, size=128, fuse_preprocess=False):
    """A real (untrained) tiny YOLOv3-MobileNetV1 from configs/, through the real exporter.

    ``size=None`` exports a dynamic input size; ``fuse_preprocess``: uint8 NHWC in.
    """
    import ppdet.modeling  # noqa: F401  (registers the components)
    from ppdet.core.workspace import create, load_config
    from ppdet.engine.export import export_model
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cfg = load_config(os.path.join(root, 'configs', 'yolov3_mobilenet_v1.yml'),
                      overrides=['num_classes=3', 'MobileNetV1.scale=0.25',
                                 'YOLOv3FPN.base_channel=32', 'YOLOBox.conf_thresh=0.05',
                                 'MultiClassNMS.keep_top_k=20',
                                 'TestReader.inputs_def.image_shape=[3,%d,%d]' % (
                                     size or -1, size or -1)])
    cfg['TestReader']['sample_transforms'][1]['Resize']['target_size'] = [size or 160] * 2
    paddle.seed(0)
    model = create(cfg['architecture'], cfg)
    export_model(model, cfg, out_dir, LABELS, fuse_preprocess=fuse_preprocess)
    return out_dir


def synthetic_image(seed=0, h=96, w=128):
    """Coloured rectangles on a noisy background: RGB uint8."""
    rng = np.random.RandomState(seed)
    im = rng.randint(0, 60, (h, w, 3)).astype('uint8')
    for _ in range(4):
        x1, y1 = rng.randint(0, w - 20), rng.randint(0, h - 20)
        x2, y2 = x1 + rng.randint(10, 40), y1 + rng.randint(10, 40)
        cv2.rectangle(im, (x1, y1), (x2, y2), tuple(int(c) for c in rng.randint(80, 255, 3)), -1)
    return im


def as_int8_model(model_dir, out_dir):
    """A copy of ``model_dir`` whose infer_cfg.yml says it is an int8 model (what the
    runners' int8 rules read)."""
    from ppdet.deploy.infer_cfg import update_infer_cfg
    shutil.copytree(model_dir, out_dir)
    update_infer_cfg(out_dir, quantized=True)
    return out_dir


# -- fixtures (the conftests of tests/deploy and tests/benchmark import these) --------------
@pytest.fixture(scope='session')
def tiny_model_dir(tmp_path_factory):
    return export_tiny(str(tmp_path_factory.mktemp('tiny_export')))


@pytest.fixture(scope='session')
def group_norm_model_dir(tmp_path_factory):
    return export_tiny(str(tmp_path_factory.mktemp('tiny_gn_export')), group_norm=True)


@pytest.fixture(scope='session')
def yolov3_model_dir(tmp_path_factory):
    return export_yolov3(str(tmp_path_factory.mktemp('yolov3_export')))


@pytest.fixture(scope='session')
def photo():
    """A real photo (scikit-image's astronaut, BSD) downsized, RGB uint8."""
    from skimage import data
    return cv2.resize(data.astronaut(), (160, 160), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope='session')
def images(photo):
    return [photo, synthetic_image(1), synthetic_image(2, 120, 90)]


@pytest.fixture(scope='session')
def yolov3_int8_dir(yolov3_model_dir, images, photo, tmp_path_factory):
    """``yolov3_model_dir`` after abs_max PTQ on the test images (the default format)."""
    from ppdet.slim.quant import quantize_post
    return quantize_post(yolov3_model_dir, images + [photo[::-1]],
                         str(tmp_path_factory.mktemp('yolov3_int8')), algo='abs_max',
                         batch_nums=4)


# what ensure_lite_env's failures say when debootstrap cannot run here at all
CANNOT_BOOTSTRAP = ('needs root', 'cannot install debootstrap', 'debootstrap failed',
                    'no apt-get')


@pytest.fixture(scope='session')
def lite_env():
    """The Paddle-Lite chroot (make lite-env), built on first use (about 1-2 minutes; one
    build at a time across the test workers); skipped only where debootstrap cannot run."""
    from ppdet.deploy import lite
    if lite.lite_env_ready():
        return lite.default_lite_env()
    if os.geteuid() != 0:
        pytest.skip('make lite-env needs root (debootstrap, chroot); not root here')
    if not shutil.which('debootstrap') and not shutil.which('apt-get'):
        pytest.skip('make lite-env needs debootstrap and there is no apt-get to install it')
    try:
        return lite.ensure_lite_env()
    except lite.LiteEnvMissing as e:
        if any(s in str(e) for s in CANNOT_BOOTSTRAP):
            pytest.skip('debootstrap cannot run here (make lite-env): %s' % str(e)[-500:])
        raise
