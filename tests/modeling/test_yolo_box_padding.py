"""YOLOBox on an image padded in a batch (keep_ratio resizes, EvalReader.batch_size > 1):
yolo_box mapped the padded grid onto the image's own size, so every y of a 128x192 image in
a 192x192 batch was scaled by 2/3 (audit: batch 1 AP 0.061, batch 2 0.034, batch 8 0.030)."""
import numpy as np
import paddle

from ppdet.modeling.post_process import YOLOBox

ANCHORS = [[116, 90, 156, 198, 373, 326], [30, 61, 62, 45, 59, 119], [10, 13, 16, 30, 33, 23]]
C = 3


def _maps(h, w, seed=0):
    rng = np.random.RandomState(seed)
    return [rng.randn(1, 3 * (5 + C), h // s, w // s).astype('float32') * 2
            for s in (32, 16, 8)]


def _cells(boxes, h, w, keep_h):
    """[1,N,4] -> per map [3 anchors, keep_h rows, W, 4], the rows of the unpadded image."""
    out, start = [], 0
    for s in (32, 16, 8):
        gh, gw = h // s, w // s
        n = 3 * gh * gw
        out.append(boxes[0, start:start + n].reshape(3, gh, gw, -1)[:, :keep_h // s])
        start += n
    return out


def test_an_image_padded_in_a_batch_decodes_as_it_does_alone():
    box = YOLOBox(conf_thresh=0.0, num_classes=C)
    scale = np.array([[0.5, 0.5]], 'float32')          # a 256x384 photo resized to 128x192
    padded_maps = _maps(192, 192)                      # the batch's input: padded to 192x192
    alone_maps = [m[:, :, :m.shape[2] * 2 // 3] for m in padded_maps]   # its own 128 rows
    t = paddle.to_tensor
    alone, alone_s = box.decode_rows([t(m) for m in alone_maps], ANCHORS,
                                     t([[128., 192.]]), t(scale))
    padded, padded_s = box.decode_rows([t(m) for m in padded_maps], ANCHORS,
                                       t([[128., 192.]]), t(scale))
    for a, p in zip(_cells(alone.numpy(), 128, 192, 128), _cells(padded.numpy(), 192, 192, 128)):
        np.testing.assert_allclose(p, a, rtol=1e-5, atol=1e-3)
    for a, p in zip(_cells(alone_s.numpy(), 128, 192, 128),
                    _cells(padded_s.numpy(), 192, 192, 128)):
        np.testing.assert_allclose(p, a, rtol=1e-6, atol=1e-6)
    b = padded.numpy()
    assert b[..., [0, 1]].min() >= 0 and b[..., 2].max() <= 383 and b[..., 3].max() <= 255


def test_an_image_that_fills_its_input_decodes_as_before():
    box = YOLOBox(conf_thresh=0.0, num_classes=C)
    maps = [paddle.to_tensor(m) for m in _maps(192, 192, seed=1)]
    args = (ANCHORS, paddle.to_tensor([[192., 192.]]), paddle.to_tensor([[0.5, 0.4]]))
    assert not box._maybe_padded(maps[0], args[1])
    boxes, _ = box.decode_rows(maps, *args)
    ref, _ = paddle.vision.ops.yolo_box(maps[0], paddle.to_tensor([[384, 480]], 'int32'),
                                        ANCHORS[0], C, 0.0, 32, clip_bbox=True)
    np.testing.assert_array_equal(boxes.numpy()[:, :ref.shape[1]], ref.numpy())
