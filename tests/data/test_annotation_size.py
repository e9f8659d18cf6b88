"""An annotation whose width/height disagree with the decoded image (an EXIF-rotated JPEG
annotated with its stored size, a wrong size in the json / xml): the boxes are clipped to
the size the image decodes to, not to the annotation's.  They were clipped and dropped
against the annotation's size when the dataset was read, so a box in the part of the image
the annotation's size leaves out was lost (an audit: COCO AP 0.90 where pycocotools gives
1.00)."""
import os

import numpy as np
from PIL import Image

import ppdet.data.source.dataset as dataset_mod
from ppdet.data import COCODataSet, VOCDataSet
from ppdet.data.reader import Compose
from ppdet.data.source.dataset import clean_boxes

from datagen import voc_xml, write_coco, write_jpg

CATS = [(1, 'thing')]


def _rotated_jpeg(path, w=60, h=40, orientation=6):
    """Stored ``w`` wide x ``h`` high; orientation 6 decodes it ``h`` wide x ``w`` high."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.new('RGB', (w, h), (90, 120, 150)).save(path, exif=exif.tobytes())
    return path


def _decoded(ds):
    ds.set_transform(Compose([{'Decode': {}}]))
    return [ds[i] for i in range(len(ds))]


def test_exif_rotated_jpeg_annotated_with_its_stored_size_keeps_its_boxes(tmp_path, ppdet_log):
    root = str(tmp_path)
    # drawn on the image as decoded (40 wide x 60 high); the json has the stored 60 x 40
    write_coco(root, [(1, 'rot.jpg', 60, 40)],
               [(1, 1, [2, 2, 20, 20]),      # inside both
                (1, 1, [5, 42, 20, 15]),     # below the annotated height: was dropped
                (1, 1, [20, 30, 15, 25]),    # across it: was clipped to y 40
                (1, 1, [5, 58, 10, 10])],    # past the decoded image too: clipped to it
               CATS, write_images=False)
    _rotated_jpeg(os.path.join(root, 'images', 'rot.jpg'))
    ds = COCODataSet(root, 'images', 'annotations/instances.json')
    rec = ds.roidbs[0]
    assert (rec['w'], rec['h']) == (40, 60)     # the size it decodes to
    want = [[2, 2, 22, 22], [5, 42, 25, 57], [20, 30, 35, 55], [5, 58, 15, 60]]
    np.testing.assert_allclose(rec['gt_bbox'], want)
    sample = _decoded(ds)[0]
    assert sample['image'].shape[:2] == (60, 40)
    np.testing.assert_allclose(sample['gt_bbox'], want)
    assert len(sample['gt_class']) == len(sample['is_crowd']) == 4
    text = ppdet_log.text
    assert ('annotation says 60x40 (w x h) but the image decodes as 40x60 (its EXIF orientation '
            '6 turns it by 90 degrees when decoded: the annotation has the stored size); its '
            'boxes are clipped to the decoded 40x60, not to the annotation\'s size') in text, text
    assert text.count('annotation says 60x40') == 1   # at reading; Decode has nothing to add
    assert '1 clipped to the image' in text and 'dropped' not in text


def test_a_plainly_wrong_size_in_the_json(tmp_path, ppdet_log):
    root = str(tmp_path)
    write_coco(root, [(1, 'small.jpg', 50, 30), (2, 'big.jpg', 100, 100)],
               [(1, 1, [40, 20, 30, 30]), (1, 1, [60, 40, 10, 10]), (1, 1, [70, 50, 20, 20]),
                (2, 1, [50, 50, 40, 40])], CATS, write_images=False)
    write_jpg(os.path.join(root, 'images', 'small.jpg'), h=64, w=80)   # json: 50 x 30
    write_jpg(os.path.join(root, 'images', 'big.jpg'), h=60, w=70)     # json: 100 x 100
    ds = COCODataSet(root, 'images', 'annotations/instances.json')
    small, big = _decoded(ds)
    np.testing.assert_allclose(small['gt_bbox'], [[40, 20, 70, 50], [60, 40, 70, 50],
                                                  [70, 50, 80, 64]])
    np.testing.assert_allclose(big['gt_bbox'], [[50, 50, 70, 60]])   # Decode clips this one
    for im in ('50x30 (w x h) but the image decodes as 80x64',
               '100x100 (w x h) but the image decodes as 70x60'):
        assert ppdet_log.text.count('annotation says ' + im) == 1, ppdet_log.text


def test_agreeing_sizes_read_no_image_and_clip_as_before(tmp_path, ppdet_log, monkeypatch):
    """The file is looked at only when a box reaches past the annotation's size; the
    result is clean_boxes' against the annotation's size whenever the two agree."""
    root = str(tmp_path)
    anns = [(1, 1, [1, 1, 10, 10]), (1, 1, [70, 50, 30, 30]), (1, 1, [100, 100, 10, 10]),
            (2, 1, [5, 5, 20, 20])]
    write_coco(root, [(1, 'a.jpg', 80, 64), (2, 'b.jpg', 80, 64)], anns, CATS)
    read = []
    real = dataset_mod.decoded_size
    monkeypatch.setattr(dataset_mod, 'decoded_size', lambda p: read.append(p) or real(p))
    ds = COCODataSet(root, 'images', 'annotations/instances.json')
    assert read == [os.path.join(root, 'images', 'a.jpg')]   # b.jpg: every box inside
    xyxy = np.array([b for i, _, b in anns if i == 1], np.float32)
    xyxy[:, 2:] += xyxy[:, :2]
    want, _ = clean_boxes(xyxy, 80, 64, dataset_mod.SkipCounter(''))
    np.testing.assert_allclose(ds.roidbs[0]['gt_bbox'], want)
    assert (ds.roidbs[0]['w'], ds.roidbs[0]['h']) == (80, 64)
    assert 'annotation says' not in ppdet_log.text
    assert '1 clipped to the image' in ppdet_log.text and '1 dropped' in ppdet_log.text


def test_voc_size_of_the_stored_image(tmp_path):
    root = str(tmp_path)
    _rotated_jpeg(os.path.join(root, 'JPEGImages', 'r.jpg'))
    os.makedirs(os.path.join(root, 'Annotations'))
    objects = [('a', (2, 2, 22, 22), 0), ('a', (5, 42, 25, 57), 0), ('b', (20, 30, 35, 55), 1)]
    with open(os.path.join(root, 'Annotations', 'r.xml'), 'w') as f:
        f.write(voc_xml('r.jpg', 60, 40, objects))
    with open(os.path.join(root, 'test.txt'), 'w') as f:
        f.write('JPEGImages/r.jpg Annotations/r.xml\n')
    with open(os.path.join(root, 'label_list.txt'), 'w') as f:
        f.write('a\nb\n')
    ds = VOCDataSet(root, 'test.txt', 'label_list.txt')
    sample = _decoded(ds)[0]
    np.testing.assert_allclose(sample['gt_bbox'], [o[1] for o in objects])
    assert sample['gt_class'].reshape(-1).tolist() == [0, 0, 1]
    assert sample['difficult'].reshape(-1).tolist() == [0, 0, 1]

    # the VOC metric then scores boxes found where the xml has them as it scores any other
    from ppdet.metrics.metrics import VOCMetric
    metric = VOCMetric(['a', 'b'], 2)
    rows = np.array([[0, 0.8] + list(objects[0][1]), [0, 0.9] + list(objects[1][1])],
                    np.float32)
    metric.update({'im_id': np.array([[0]]), 'gt_bbox': [sample['gt_bbox']],
                   'gt_class': [sample['gt_class']], 'difficult': [sample['difficult']]},
                  {'bbox': rows, 'bbox_num': np.array([2])})
    metric.accumulate()
    # 0.5 when the second box was left out of the ground truth (its detection, scored
    # first, was a false positive)
    assert metric.values()[0] == 1.0


def test_decoded_size_is_what_decode_gets(tmp_path):
    """The header's size, turned where the decoder turns it: a JPEG with orientation 5-8
    without decoding it; another format with such an orientation by decoding it (whether
    OpenCV turns it depends on the format and the version)."""
    import cv2
    from ppdet.data.source.dataset import decoded_size
    exif = Image.Exif()
    for orientation in (1, 3, 5, 6, 7, 8):
        exif[0x0112] = orientation
        for ext in ('jpg', 'png', 'webp'):
            path = str(tmp_path / ('o%d.%s' % (orientation, ext)))
            Image.new('RGB', (30, 20)).save(path, exif=exif.tobytes())
            h, w = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR).shape[:2]
            assert decoded_size(path) == (w, h), (path, decoded_size(path), (w, h))
    plain = write_jpg(str(tmp_path / 'plain.jpg'), h=48, w=64)
    assert decoded_size(plain) == (64, 48)
    (tmp_path / 'junk.jpg').write_bytes(b'not an image')
    assert decoded_size(str(tmp_path / 'junk.jpg')) is None


def test_wider_face_size_of_an_exif_rotated_jpeg(tmp_path):
    """WIDER FACE has no sizes in its annotation: it read the header's, unturned, and
    clipped the faces of a rotated JPEG to the stored size."""
    from ppdet.data.source.widerface import _image_size
    path = _rotated_jpeg(str(tmp_path / 'r.jpg'))
    assert _image_size(path) == (60.0, 40.0)   # (h, w) as decoded
    assert _image_size(str(tmp_path / 'none.jpg')) == (0.0, 0.0)
