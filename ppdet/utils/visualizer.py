"""Draw detections on an image and save it.

Images are RGB uint8 ``[H, W, 3]`` throughout; :func:`save_result_image` converts to
BGR only for ``cv2.imwrite``.
"""
import os

import cv2
import numpy as np

from .fileio import atomic_write

__all__ = ['color_for_class', 'draw_boxes', 'save_result_image', 'shown_rows']


def shown_rows(bbox_rows, threshold):
    """The rows of ``[k, 6]`` (class_id, score, x1, y1, x2, y2) that are detections to show:
    a class (not padding, < 0), a score >= ``threshold`` and a box with area.  An untrained
    model's NMS keeps zero-area boxes (x2 == x1), which were listed as detections."""
    rows = np.asarray(bbox_rows).reshape(-1, 6)
    keep = ((rows[:, 0] >= 0) & (rows[:, 1] >= threshold)
            & (rows[:, 4] > rows[:, 2]) & (rows[:, 5] > rows[:, 3]))
    return rows[keep]


def color_for_class(cls):
    """A fixed, well-spread RGB colour per class id (golden-ratio hue walk)."""
    hue = int((cls * 0.618033988749895 % 1.0) * 180)
    hsv = np.uint8([[[hue, 200, 255]]])
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])


def _label(label_names, cls):
    if label_names is not None and 0 <= cls < len(label_names):
        return str(label_names[cls])
    return str(cls)


def draw_boxes(image_rgb_uint8, bbox_rows, label_names, threshold=0.5):
    """Return a copy of the image with boxes scoring >= ``threshold`` drawn and labelled.

    ``bbox_rows``: ``[k, 6]`` (class_id, score, x1, y1, x2, y2) in this image's pixels;
    rows with class_id < 0 (padding) or without area are skipped (:func:`shown_rows`).
    """
    image = np.ascontiguousarray(np.asarray(image_rgb_uint8, dtype=np.uint8)).copy()
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError('draw_boxes expects an RGB [H, W, 3] image, got shape %s'
                         % (image.shape,))
    h, w = image.shape[:2]
    thick = max(1, int(round(0.002 * (h + w))))
    font_scale = max(0.4, 0.0008 * (h + w))
    for row in shown_rows(np.asarray(bbox_rows, dtype=np.float64), threshold):
        cls, score = int(row[0]), float(row[1])
        x1, y1, x2, y2 = (int(round(v)) for v in row[2:6])
        x1, x2 = np.clip([x1, x2], 0, w - 1)
        y1, y2 = np.clip([y1, y2], 0, h - 1)
        color = color_for_class(cls)
        cv2.rectangle(image, (int(x1), int(y1)), (int(x2), int(y2)), color, thick)
        text = '%s %.2f' % (_label(label_names, cls), score)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        # label sits above the box, or inside it when the box touches the top edge
        ty = int(y1) - th - base if int(y1) - th - base >= 0 else int(y1)
        cv2.rectangle(image, (int(x1), ty), (int(x1) + tw, ty + th + base), color, -1)
        bright = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2] > 150
        cv2.putText(image, text, (int(x1), ty + th), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                    (0, 0, 0) if bright else (255, 255, 255), 1, cv2.LINE_AA)
    return image


def save_result_image(path, image):
    """Write an RGB uint8 image; the format follows the extension (default .jpg).

    The file is encoded in memory and renamed into place, so readers never see a
    partial image.
    """
    ext = os.path.splitext(path)[1].lower() or '.jpg'
    if not os.path.splitext(path)[1]:
        path = path + ext
    bgr = cv2.cvtColor(np.asarray(image, dtype=np.uint8), cv2.COLOR_RGB2BGR)
    try:
        ok, buf = cv2.imencode(ext, bgr)
    except cv2.error:
        ok = False
    if not ok:
        raise ValueError('OpenCV cannot encode %r images (path %s); use .jpg or .png'
                         % (ext, path))
    atomic_write(path, lambda f: f.write(buf.tobytes()), mode='wb')
    return path
