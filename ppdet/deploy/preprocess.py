"""Preprocessing from ``infer_cfg.yml``: RGB uint8 images -> the model's input arrays.

The ops do the same math as the eval-side transforms (``Resize`` with cv2, then
``NormalizeImage``, then ``Permute``), so deployed and evaluated models see the same
pixels.  ``im_shape`` is the resized (h, w) and ``scale_factor`` is resized / original
as (y, x), which is what the exported post-process needs to map boxes back.
"""
import cv2
import numpy as np

__all__ = ['Preprocessor', 'decode_image', 'build_ops']


def decode_image(path):
    """Read an image file as RGB uint8 (as the data pipeline's Decode does)."""
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError('cannot read image %s' % path)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class Resize(object):
    def __init__(self, target_size, keep_ratio=False, interp=cv2.INTER_LINEAR):
        if isinstance(target_size, int):
            target_size = [target_size, target_size]
        self.target_size = [int(s) for s in target_size]
        self.keep_ratio = bool(keep_ratio)
        self.interp = int(interp)

    def __call__(self, im, info):
        h, w = im.shape[:2]
        th, tw = self.target_size
        if self.keep_ratio:
            # the short side goes to min(target), the long side is capped at max(target)
            short, long_ = min(th, tw), max(th, tw)
            s = min(short / min(h, w), long_ / max(h, w))
            sy = sx = s
        else:
            sy, sx = th / h, tw / w
        im = cv2.resize(im, None, None, fx=sx, fy=sy, interpolation=self.interp)
        info['im_shape'] = np.array(im.shape[:2], 'float32')
        info['scale_factor'] = np.array([sy, sx], 'float32')
        return im


class NormalizeImage(object):
    def __init__(self, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), is_scale=True,
                 norm_type='mean_std'):
        self.mean = np.array(mean, 'float32').reshape(1, 1, -1)
        self.std = np.array(std, 'float32').reshape(1, 1, -1)
        self.is_scale = bool(is_scale)
        self.norm_type = norm_type

    def __call__(self, im, info):
        im = im.astype('float32', copy=False)
        if self.is_scale:
            im = im * np.float32(1.0 / 255.0)
        if self.norm_type == 'mean_std':
            im = (im - self.mean) / self.std
        return im


class Permute(object):
    def __call__(self, im, info):
        return np.ascontiguousarray(im.transpose(2, 0, 1))


OPS = {'Resize': Resize, 'NormalizeImage': NormalizeImage, 'Permute': Permute}


def build_ops(spec):
    ops = []
    for item in spec:
        item = dict(item)
        name = item.pop('type')
        if name not in OPS:
            raise ValueError('unsupported preprocess op %r in infer_cfg.yml (supported: %s)'
                             % (name, ', '.join(sorted(OPS))))
        ops.append(OPS[name](**item))
    return ops


class Preprocessor(object):
    """``Preprocessor(infer_cfg)(images)`` -> {'image', 'im_shape', 'scale_factor'} arrays."""

    def __init__(self, infer_cfg):
        self.ops = build_ops(infer_cfg['Preprocess'])

    def one(self, image_rgb):
        im = np.asarray(image_rgb)
        if im.ndim != 3 or im.shape[2] != 3:
            raise ValueError('expected an RGB [H, W, 3] image, got shape %s' % (im.shape,))
        h, w = im.shape[:2]
        info = {'im_shape': np.array([h, w], 'float32'),
                'scale_factor': np.array([1., 1.], 'float32')}
        for op in self.ops:
            im = op(im, info)
        info['image'] = im.astype('float32', copy=False)
        return info

    def __call__(self, images_rgb):
        if isinstance(images_rgb, np.ndarray) and images_rgb.ndim == 3:
            images_rgb = [images_rgb]
        samples = [self.one(im) for im in images_rgb]
        return {'image': _pad_stack([s['image'] for s in samples]),
                'im_shape': np.stack([s['im_shape'] for s in samples]),
                'scale_factor': np.stack([s['scale_factor'] for s in samples])}


def _pad_stack(chw_images):
    """Stack [3,h,w] images, zero-padding to the largest h and w (keep_ratio resizes)."""
    hmax = max(im.shape[1] for im in chw_images)
    wmax = max(im.shape[2] for im in chw_images)
    out = np.zeros([len(chw_images), chw_images[0].shape[0], hmax, wmax], 'float32')
    for i, im in enumerate(chw_images):
        out[i, :, :im.shape[1], :im.shape[2]] = im
    return out
