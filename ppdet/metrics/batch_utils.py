"""Turn one eval batch (tensors or numpy, padded or per-image lists) into per-image numpy arrays.

Conventions shared by both metrics:

* ``outputs['bbox']`` is ``[N, 6]`` rows ``(class_id, score, x1, y1, x2, y2)`` in
  original-image pixels; ``outputs['bbox_num']`` is ``[B]`` rows per image in batch
  order.  Rows with ``class_id < 0`` are padding and are dropped.
* Ground truth (``gt_bbox``, ``gt_class``, ``difficult``) may be a python list of
  per-image arrays or one padded array ``[B, M, ...]``.  In both cases a box whose four
  coordinates are all 0 is padding and is dropped together with its class/difficult.
"""
import numpy as np

__all__ = ['to_numpy', 'image_ids', 'split_detections', 'split_ground_truth']


def to_numpy(x):
    """paddle.Tensor / numpy / list -> numpy array."""
    if hasattr(x, 'numpy') and not isinstance(x, np.ndarray):
        return np.asarray(x.numpy())
    return np.asarray(x)


def _per_image(value, num_images, key):
    """A list (or tuple) of per-image items, or a padded array split along axis 0."""
    if isinstance(value, (list, tuple)):
        items = [to_numpy(v) for v in value]
    else:
        arr = to_numpy(value)
        items = [arr[i] for i in range(arr.shape[0])] if arr.ndim > 0 else []
    if len(items) != num_images:
        raise ValueError('batch key %r holds %d images but im_id holds %d' % (
            key, len(items), num_images))
    return items


def image_ids(inputs):
    """``inputs['im_id']`` ([B,1], [B] or a list) -> list of python ints."""
    if 'im_id' not in inputs:
        raise KeyError("eval batch has no 'im_id' (keys: %s); the eval reader must keep it"
                       % ', '.join(sorted(inputs)))
    value = inputs['im_id']
    if isinstance(value, (list, tuple)):
        return [int(to_numpy(v).reshape(-1)[0]) for v in value]
    return [int(v) for v in to_numpy(value).reshape(-1)]


def split_detections(outputs, num_images):
    """-> list (one per image) of float64 ``[k, 6]`` arrays, padding rows removed."""
    bbox = to_numpy(outputs['bbox']).astype(np.float64).reshape(-1, 6)
    bbox_num = to_numpy(outputs['bbox_num']).astype(np.int64).reshape(-1)
    if len(bbox_num) != num_images:
        raise ValueError('bbox_num has %d entries but the batch has %d images' % (
            len(bbox_num), num_images))
    if bbox_num.sum() > len(bbox):
        raise ValueError('bbox_num sums to %d but bbox has only %d rows' % (
            bbox_num.sum(), len(bbox)))
    per_image, start = [], 0
    for n in bbox_num:
        rows = bbox[start:start + n]
        start += n
        per_image.append(rows[rows[:, 0] >= 0])
    return per_image


def split_ground_truth(inputs, num_images):
    """-> list of (boxes [m,4] float64, classes [m] int64, difficult [m] bool) per image."""
    for key in ('gt_bbox', 'gt_class'):
        if key not in inputs:
            raise KeyError('VOC evaluation needs %r in the eval batch (keys: %s)' % (
                key, ', '.join(sorted(inputs))))
    boxes = _per_image(inputs['gt_bbox'], num_images, 'gt_bbox')
    classes = _per_image(inputs['gt_class'], num_images, 'gt_class')
    if inputs.get('difficult') is not None:
        difficult = _per_image(inputs['difficult'], num_images, 'difficult')
    else:
        difficult = [np.zeros(len(c.reshape(-1))) for c in classes]
    result = []
    for box, cls, dif in zip(boxes, classes, difficult):
        box = box.astype(np.float64).reshape(-1, 4)
        cls = cls.astype(np.int64).reshape(-1)
        dif = dif.reshape(-1).astype(bool)
        if not len(box) == len(cls) == len(dif):
            raise ValueError('gt_bbox/gt_class/difficult lengths differ: %d/%d/%d' % (
                len(box), len(cls), len(dif)))
        keep = np.any(box != 0, axis=1)
        result.append((box[keep], cls[keep], dif[keep]))
    return result
