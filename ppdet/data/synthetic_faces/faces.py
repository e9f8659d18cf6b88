"""Real faces that installed packages ship, and how one is drawn at any size.

Sources (all from scikit-image's ``skimage.data``, read from the installed package):

* ``astronaut()`` — Eileen Collins, NASA portrait, public domain (skimage's docstring: "No
  known copyright restrictions, released into the public domain").  Face box (x1, y1, x2,
  y2) = (178, 74, 272, 180) in the 512x512 photo: hairline to chin, cheek to cheek, set by
  eye on a 3x zoom with a 10-px grid and checked against the LBP frontal-face cascade
  that scikit-image ships (x 175, y 66, 99 x 99, which stops above the chin).
* ``camera()`` — the cameraman, CC0 (photographer Lav Varshney, per skimage's docstring).
  Face box (182, 122, 256, 192): ear to nose tip, hairline to chin, a three-quarter view
  looking down into the camera, so its pose is *atypical*.  Set by eye on a 4x zoom; the
  LBP cascade finds (209, 128, 49 x 49) inside it.
* ``lfw_subset()`` — 200 grayscale 25x25 crops from Labeled Faces in the Wild (Huang et
  al.), shipped inside scikit-image (BSD-3-Clause package); the first 100 are faces, the
  last 100 non-face crops from the same photos.  Each face crop holds the face from brow
  to chin and cheek to cheek; its face box is (2, 0, 23, 25).  The faces are upscaled
  (bicubic) and, three times in four, colourised with a skin tone (gray x tone, the
  luminance pattern kept); otherwise kept gray.  The 100 non-faces are pasted as hard
  negatives and occluders, never labelled.

A face is drawn mirrored or not and rolled by any angle; its box is the box of the face
ellipse (inscribed in the face box) after rotation — for an upright face exactly the face
box.  Each source crop keeps some context (hair, neck) and is pasted through a feathered
elliptical mask, so no rectangle edge gives the face away.
"""
import collections

import cv2
import numpy as np

from ppdet.data.sample_photos import skimage_image

__all__ = ['face_sources', 'nonface_patches', 'draw_face', 'SKIN_TONES']

# crop of the photo (x1, y1, x2, y2), face box inside the photo, paste ellipse in the photo
# (cx, cy, ax, ay), atypical pose
_PHOTO_FACES = {
    'astronaut': ((145, 28, 305, 205), (178, 74, 272, 180), (225, 112, 76, 86), 0),
    'camera': ((165, 92, 270, 205), (182, 122, 256, 192), (217, 148, 51, 55), 1),
}
LFW_FACE_BOX = (2, 0, 23, 25)
LFW_ELLIPSE = (12.5, 12.5, 12.0, 12.5)
# RGB skin tones (0-1) multiplied into the gray LFW crops
SKIN_TONES = np.float32([[1.00, 0.86, 0.74], [0.98, 0.80, 0.62], [0.92, 0.74, 0.55],
                         [0.85, 0.64, 0.45], [0.70, 0.50, 0.33], [0.55, 0.38, 0.24],
                         [1.00, 0.82, 0.70]])

FaceSource = collections.namedtuple('FaceSource', 'name image box ellipse pose gray')
_SOURCES = None
_NONFACES = None


def _lfw():
    return np.asarray(skimage_image('lfw_subset'), np.float32) * np.float32(255.)


def face_sources():
    """The face sources: 2 photo faces (astronaut, cameraman) and the 100 LFW faces."""
    global _SOURCES
    if _SOURCES is None:
        out = []
        for name, (crop, box, ell, pose) in _PHOTO_FACES.items():
            im = np.asarray(skimage_image(name), np.float32)
            gray = im.ndim == 2
            if gray:
                im = np.repeat(im[..., None], 3, axis=2)
            x1, y1, x2, y2 = crop
            out.append(FaceSource(name, np.ascontiguousarray(im[y1:y2, x1:x2, :3]),
                                  np.float32(box) - [x1, y1, x1, y1],
                                  np.float32(ell) - [x1, y1, 0, 0], pose, gray))
        for i, im in enumerate(_lfw()[:100]):
            out.append(FaceSource('lfw_%03d' % i, np.repeat(im[..., None], 3, axis=2),
                                  np.float32(LFW_FACE_BOX), np.float32(LFW_ELLIPSE), 0, True))
        _SOURCES = out
    return _SOURCES


def nonface_patches():
    """LFW's 100 non-face crops (25x25 gray, float32 0-255)."""
    global _NONFACES
    if _NONFACES is None:
        _NONFACES = _lfw()[100:]
    return _NONFACES


def _ellipse_alpha(h, w, ellipse, feather):
    cx, cy, ax, ay = (float(v) for v in ellipse)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32) + np.float32(0.5)
    r = np.sqrt(((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2)
    return np.clip((1 - r) * np.float32(min(ax, ay) / feather), 0, 1).astype(np.float32)


def draw_face(rng, src, width, angle, mirror, colourise):
    """Render ``src`` with its face box ``width`` px wide, rolled by ``angle`` degrees.

    Returns (rgb [h,w,3] float32, alpha [h,w] float32, box [x1,y1,x2,y2] float in patch
    coordinates, upscale) where ``upscale`` (>= 1) is how much the source was enlarged —
    the detail it lacks, counted as blur by the caller.
    """
    im, box, ell = src.image, src.box.copy(), src.ellipse.copy()
    if mirror:
        im = im[:, ::-1]
        w0 = im.shape[1]
        box = np.float32([w0 - box[2], box[1], w0 - box[0], box[3]])
        ell[0] = w0 - ell[0]
    if src.gray and colourise:
        tone = SKIN_TONES[rng.integers(len(SKIN_TONES))] * np.float32(rng.uniform(0.95, 1.15))
        im = im * tone
    alpha = _ellipse_alpha(im.shape[0], im.shape[1], ell, feather=max(1.5, 0.1 * ell[3]))
    scale = width / float(box[2] - box[0])
    h0, w0 = im.shape[:2]
    nh, nw = max(1, int(round(h0 * scale))), max(1, int(round(w0 * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    im = np.clip(cv2.resize(np.ascontiguousarray(im), (nw, nh), interpolation=interp), 0, 255)
    alpha = cv2.resize(alpha, (nw, nh), interpolation=cv2.INTER_LINEAR)
    sx, sy = nw / float(w0), nh / float(h0)
    box = box * np.float32([sx, sy, sx, sy])
    # roll about the face centre, into a patch that holds the whole rotated crop
    cx, cy = (box[0] + box[2]) / 2., (box[1] + box[3]) / 2.
    rot = cv2.getRotationMatrix2D((float(cx), float(cy)), float(angle), 1.0)
    corners = np.float32([[0, 0, 1], [nw, 0, 1], [0, nh, 1], [nw, nh, 1]]) @ rot.T
    lo, hi = np.floor(corners.min(axis=0)), np.ceil(corners.max(axis=0))
    rot[:, 2] -= lo
    size = (int(hi[0] - lo[0]), int(hi[1] - lo[1]))
    rgb = cv2.warpAffine(im, rot, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(alpha, rot, size, flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    c = rot @ np.float32([cx, cy, 1])
    a, b = (box[2] - box[0]) / 2., (box[3] - box[1]) / 2.
    t = np.deg2rad(angle)
    ex = np.sqrt((a * np.cos(t)) ** 2 + (b * np.sin(t)) ** 2)
    ey = np.sqrt((a * np.sin(t)) ** 2 + (b * np.cos(t)) ** 2)
    out_box = np.array([c[0] - ex, c[1] - ey, c[0] + ex, c[1] + ey], np.float64)
    return rgb.astype(np.float32), alpha, out_box, max(1., scale)
