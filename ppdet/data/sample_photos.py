"""Real photos that Python packages ship (scikit-image), for checks on real pixels offline.

:func:`face_photos` gives photos with human faces (the astronaut, the camera man, LFW face
crops laid out on grey canvases); :data:`NO_FACE_PHOTOS` names scikit-image photos with no
human face.  The hand-drawn boxes of the first three live with the test that checks them
(tests/modeling/test_mediapipe_blazeface.py).
"""
import numpy as np

__all__ = ['face_photos', 'lfw_canvas', 'no_face_photos', 'skimage_image', 'write_photos',
           'NO_FACE_PHOTOS']

# lfw_subset() crops picked by eye for a frontal pose (the hand-checked canvas)
LFW_FACES = (0, 25, 60, 80)
LFW_SIZE, LFW_TOPLEFT = 96, ((16, 16), (144, 16), (16, 144), (144, 144))
NO_FACE_PHOTOS = ('coffee', 'chelsea', 'rocket')   # a cup, a cat, a rocket


def _skimage_data():
    try:
        import skimage.data
    except ImportError as e:  # pragma: no cover - scikit-image is a test/dev requirement
        raise ImportError('the sample photos come from scikit-image: pip install scikit-image '
                          '(%s)' % e)
    return skimage.data


def skimage_image(name):
    """``skimage.data.<name>()``, with a Ctrl-C during the read raised after it: the read
    closes its file in a ``__del__``, where a KeyboardInterrupt is dropped."""
    from ppdet.utils.interrupts import ctrl_c_deferred
    loader = getattr(_skimage_data(), name)
    with ctrl_c_deferred():
        return loader()


def lfw_canvas(faces=LFW_FACES):
    """Four 25x25 LFW face crops (indices ``faces`` of ``lfw_subset()``, whose first 100
    images are faces), upscaled to 96x96, on a mid-grey 256x256 canvas; RGB uint8."""
    import cv2
    crops = skimage_image('lfw_subset')
    canvas = np.full((256, 256), 0.5)
    for (x0, y0), i in zip(LFW_TOPLEFT, faces):
        canvas[y0:y0 + LFW_SIZE, x0:x0 + LFW_SIZE] = cv2.resize(
            crops[i], (LFW_SIZE, LFW_SIZE), interpolation=cv2.INTER_CUBIC)
    return np.repeat((np.clip(canvas, 0, 1) * 255).astype('uint8')[:, :, None], 3, 2)


def face_photos(extra_lfw_canvases=0):
    """{name: RGB uint8}: 'astronaut', 'camera', 'lfw_canvas' and ``extra_lfw_canvases`` more
    canvases ('lfw_canvas_1', ...) of LFW faces 4k .. 4k+3 (k = 1, 2, ...; at most 24)."""
    photos = {'astronaut': skimage_image('astronaut'),
              'camera': np.repeat(skimage_image('camera')[:, :, None], 3, 2),
              'lfw_canvas': lfw_canvas()}
    if not 0 <= extra_lfw_canvases <= 24:
        raise ValueError('extra_lfw_canvases must be in [0, 24] (lfw_subset has 100 faces), '
                         'got %r' % extra_lfw_canvases)
    for k in range(1, extra_lfw_canvases + 1):
        photos['lfw_canvas_%d' % k] = lfw_canvas(tuple(range(4 * k, 4 * k + 4)))
    return photos


def no_face_photos():
    return {n: skimage_image(n) for n in NO_FACE_PHOTOS}


def write_photos(photos, out_dir):
    """Write ``{name: RGB}`` as PNG files under ``out_dir``; returns {name: path}."""
    import os
    import cv2
    os.makedirs(out_dir, exist_ok=True)
    paths = {}
    for name, rgb in photos.items():
        paths[name] = os.path.join(out_dir, name + '.png')
        cv2.imwrite(paths[name], cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return paths
