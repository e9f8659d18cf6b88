"""Preprocessing from ``infer_cfg.yml``: RGB uint8 images -> the model's input arrays.

The ops are the eval-side transforms themselves (``ppdet.data.transform.operators``:
``Resize``, ``NormalizeImage``, ``Permute``), with one difference: the resize runs on the
uint8 image (as PaddleDetection's deploy does), where the eval reader resizes the image
decoded to float32.  uint8 rounds each pixel and clips at 0 and 255: measured on
scikit-image's astronaut at 320 and 608, a mean of 0.24 grey levels either way, and with
cubic interpolation (``interp: 2``, the YOLOv3 readers) up to 21-22 levels at sharp edges,
where the float resize overshoots past 0 or 255.  ``im_shape`` is the resized (h, w) and
``scale_factor`` is resized / original as (y, x), which the exported post-process needs to
map boxes back.  Training-only ops (random augmentations) have no place in infer_cfg.yml
and are refused.

A fused export (``fuse_preprocess: true``) normalises and permutes inside its graph: the
Preprocessor then only resizes (on uint8, as above) and feeds ``image`` as uint8
[N,H,W,3] -- no float copy.
"""
import numbers

import numpy as np

__all__ = ['Preprocessor', 'decode_image', 'build_ops', 'INFER_OPS']

INFER_OPS = ('Resize', 'NormalizeImage', 'Permute')


def decode_image(path):
    """Read an image file as RGB uint8 (the data pipeline's Decode does the same).

    Raises ImageDecodeError (a ValueError) naming the file; a truncated file that still
    decodes is returned, with a counted warning."""
    from ppdet.utils.image_io import decode_rgb
    return decode_rgb(path)


def build_ops(spec, where='infer_cfg.yml'):
    """infer_cfg.yml's ``Preprocess`` list -> operator instances; a malformed list or step is
    a ValueError naming ``where`` (the file) and the expected form."""
    from ppdet.data.transform import operators  # imported here: it loads paddle
    if not isinstance(spec, list) or not all(isinstance(item, dict) for item in spec):
        raise ValueError('%s: Preprocess must be a list of steps like [{type: Resize, '
                         'target_size: [H, W]}, {type: NormalizeImage, ...}, {type: Permute}], '
                         'got %s' % (where, brief_repr(spec)))
    ops = []
    for item in spec:
        item = dict(item)
        name = item.pop('type', None)
        if name not in INFER_OPS:
            raise ValueError('unsupported preprocess op %r in %s (supported: %s)'
                             % (name, where, ', '.join(INFER_OPS)))
        try:
            if name == 'NormalizeImage':
                _check_rgb_values(item)
            ops.append(getattr(operators, name)(**item))
        except (TypeError, ValueError) as e:
            raise ValueError('bad arguments for %s in %s: %s' % (name, where, e))
    return ops


def _check_rgb_values(args):
    """NormalizeImage's mean and std: one number per RGB channel (another length failed
    as a numpy broadcast error on the first image)."""
    for key in ('mean', 'std'):
        v = args.get(key, [0.0] * 3)
        if not isinstance(v, (list, tuple)) or len(v) != 3 or not all(map(is_number, v)):
            raise ValueError('%s must be 3 numbers (one per R, G, B channel), got %s'
                             % (key, brief_repr(v)))


def is_number(v):
    """A real number, not a bool (YAML's true is an int to Python)."""
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def brief_repr(value, limit=80):
    """``value`` for a message: its repr, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + '...'


def fused_ops(infer_cfg):
    """The ops of ``Preprocess`` that a fused export runs in its graph (none if unfused)."""
    if not infer_cfg.get('fuse_preprocess'):
        return ()
    return tuple(infer_cfg.get('fused_ops') or ('NormalizeImage', 'Permute'))


class Preprocessor(object):
    """``Preprocessor(infer_cfg)(images)`` -> {'image', 'im_shape', 'scale_factor'} arrays.

    ``image`` is float32 [N,3,H,W], or uint8 [N,H,W,3] for a fused export."""

    def __init__(self, infer_cfg):
        self.fused = bool(infer_cfg.get('fuse_preprocess'))
        skip = fused_ops(infer_cfg)
        every = build_ops(infer_cfg['Preprocess'])
        self.ops = [op for op in every if type(op).__name__ not in skip]
        if self.fused and any(type(op).__name__ != 'Resize' for op in self.ops):
            raise ValueError('a fused export can only leave Resize to Python, infer_cfg.yml '
                             'asks for %s' % [type(op).__name__ for op in self.ops])
        # the usual reader, done in place: same arithmetic as the ops, 2 float copies not 6
        self._usual = [type(op).__name__ for op in self.ops] == list(INFER_OPS)
        # a model exported at a fixed size takes only that size: a Resize keeping the ratio
        # (the full-size RetinaNet / FCOS readers: [800, 1333]) gives a smaller image, padded
        # at the bottom and right as the eval reader's PadBatch pads (it failed in the graph:
        # 'Broadcast dimension mismatch' of the FPN's upsampled maps)
        shape = infer_cfg.get('image_shape') or []
        self.fixed_hw = (tuple(shape[1:]) if len(shape) == 3 and all(
            isinstance(v, int) and v > 0 for v in shape[1:]) else None)
        if self.fixed_hw:   # and a portrait image's keep-ratio resize, taller than the
            for op in self.ops:  # export ([800, 1333] -> 1067 x 800), is scaled to fit it
                if type(op).__name__ == 'Resize' and op.keep_ratio:
                    op.fit_within = self.fixed_hw
        self.pad_value = _fused_pad_value(every) if self.fused else 0.0

    def one(self, image_rgb):
        im = np.asarray(image_rgb)
        if im.ndim != 3 or im.shape[2] != 3:
            raise ValueError('expected an RGB [H, W, 3] image, got shape %s' % (im.shape,))
        if self.fused:
            return self._resize_uint8(im)
        if self._usual and im.dtype == np.uint8:
            return self._usual_in_place(im)
        sample = {'image': im, 'im_shape': np.array(im.shape[:2], 'float32'),
                  'scale_factor': np.array([1., 1.], 'float32')}
        for op in self.ops:
            sample = op(sample)
        sample['image'] = np.asarray(sample['image'], 'float32')
        return sample

    def _usual_in_place(self, im):
        """Resize (uint8), then one float32 copy normalised in place, then the CHW copy."""
        resize, norm, _ = self.ops
        sample = self._resize_uint8(im)
        x = sample['image'].astype(np.float32)
        if norm.is_scale:
            np.divide(x, 255., out=x)
        np.subtract(x, np.array(norm.mean, np.float32), out=x)
        np.divide(x, np.array(norm.std, np.float32), out=x)
        sample['image'] = np.ascontiguousarray(x.transpose(2, 0, 1))
        return sample

    def _resize_uint8(self, im):
        import cv2
        if im.dtype != np.uint8:
            raise ValueError('a fused export takes uint8 images, got %s' % im.dtype)
        h, w = im.shape[:2]
        nh, nw = h, w
        for op in self.ops:
            if type(op).__name__ != 'Resize':
                continue
            nh, nw = op.output_hw(nh, nw)
            im = cv2.resize(im, (nw, nh), interpolation=op.interp)
        return {'image': im, 'im_shape': np.array([nh, nw], 'float32'),
                'scale_factor': np.array([nh / float(h), nw / float(w)], 'float32')}

    def __call__(self, images_rgb):
        if isinstance(images_rgb, np.ndarray) and images_rgb.ndim == 3:
            images_rgb = [images_rgb]
        samples = [self.one(im) for im in images_rgb]
        images = [s['image'] for s in samples]
        image = (_pad_stack_hwc(images, self.fixed_hw, self.pad_value) if self.fused
                 else _pad_stack(images, self.fixed_hw))
        return {'image': image,
                'im_shape': np.stack([s['im_shape'] for s in samples]),
                'scale_factor': np.stack([s['scale_factor'] for s in samples])}


def _fused_pad_value(ops):
    """The uint8 pixel a fused export normalises to ~0 (the mean of its NormalizeImage, one
    of ``ops``), so its padding matches the unfused path's, which pads after normalising
    with 0."""
    for op in ops:
        if type(op).__name__ == 'NormalizeImage':
            scale = 255.0 if op.is_scale else 1.0
            return np.clip(np.round(np.asarray(op.mean, 'float64') * scale), 0,
                           255).astype(np.uint8)
    return 0


def _padded_hw(shapes, size):
    """The largest h and w of ``shapes``, at least ``size`` (a fixed export size) if given."""
    h, w = max(s[0] for s in shapes), max(s[1] for s in shapes)
    return (max(h, size[0]), max(w, size[1])) if size else (h, w)


def _pad_stack(chw_images, size=None):
    """Stack [3,h,w] images, zero-padding (bottom, right) to the largest h and w (keep_ratio
    resizes), and at least to ``size`` (a fixed export's input size)."""
    hmax, wmax = _padded_hw([im.shape[1:] for im in chw_images], size)
    if len(chw_images) == 1 and chw_images[0].dtype == np.float32 and \
            chw_images[0].shape[1:] == (hmax, wmax):
        return chw_images[0][None]     # a view: one image needs no padding
    out = np.zeros([len(chw_images), chw_images[0].shape[0], hmax, wmax], 'float32')
    for i, im in enumerate(chw_images):
        out[i, :, :im.shape[1], :im.shape[2]] = im
    return out


def _pad_stack_hwc(hwc_images, size=None, value=0):
    """Stack uint8 [h,w,3] images (no copy beyond the stack), padding to the largest h and w
    (and at least ``size``) with ``value``, the pixel the graph normalises to ~0 (the unfused
    path pads after normalising, with 0)."""
    hmax, wmax = _padded_hw([im.shape[:2] for im in hwc_images], size)
    if len(hwc_images) == 1 and hwc_images[0].shape[:2] == (hmax, wmax):
        return hwc_images[0][None]
    out = np.empty([len(hwc_images), hmax, wmax, hwc_images[0].shape[2]], np.uint8)
    out[...] = value
    for i, im in enumerate(hwc_images):
        out[i, :im.shape[0], :im.shape[1]] = im
    return out
