import os

import numpy as np
import pytest

from ppdet.data import COCODataSet, ImageDecodeError
from ppdet.data.reader import Compose

from datagen import write_coco, write_jpg

CATS = [(3, 'cat'), (7, 'dog'), (11, 'bird')]  # non-contiguous ids


def test_class_mapping_and_boxes(tmp_path):
    root = str(tmp_path)
    write_coco(root, [(5, 'a.jpg', 80, 64), (9, 'b.jpg', 80, 64)],
               [(5, 11, [10, 20, 30, 15]), (5, 3, [0, 0, 8, 8]), (9, 7, [40, 30, 20, 20])], CATS)
    ds = COCODataSet(root, 'images', 'annotations/instances.json')
    assert ds.num_classes == 3
    assert ds.catid2clsid == {3: 0, 7: 1, 11: 2}
    assert ds.clsid2catid == {0: 3, 1: 7, 2: 11}
    assert ds.label_list() == ['cat', 'dog', 'bird']
    assert ds.get_anno() == os.path.join(root, 'annotations/instances.json')
    assert ds.get_imid2path() == {5: os.path.join(root, 'images', 'a.jpg'),
                                  9: os.path.join(root, 'images', 'b.jpg')}
    assert len(ds) == 2
    rec = ds[0]  # no transforms: the record itself
    assert rec['im_id'].tolist() == [5] and rec['h'] == 64 and rec['w'] == 80
    np.testing.assert_allclose(rec['gt_bbox'], [[10, 20, 40, 35], [0, 0, 8, 8]])
    assert rec['gt_bbox'].dtype == np.float32
    assert rec['gt_class'].dtype == np.int32 and rec['gt_class'].tolist() == [[2], [0]]
    assert rec['is_crowd'].shape == (2, 1)


def test_bad_records_are_counted(tmp_path, ppdet_log):
    root = str(tmp_path)
    images = [(1, 'ok.jpg', 80, 64), (2, 'missing.jpg', 80, 64), (3, 'degenerate.jpg', 80, 64),
              (4, 'clip.jpg', 80, 64), (5, 'none.jpg', 80, 64)]
    anns = [(1, 3, [1, 1, 10, 10]),
            (3, 3, [5, 5, 0, 10]),            # zero width: dropped -> image has no boxes
            (4, 7, [70, 50, 30, 30]),         # crosses the border: clipped to 80x64
            (4, 7, [100, 100, 10, 10])]       # completely outside: dropped
    write_coco(root, images, anns, CATS)
    os.remove(os.path.join(root, 'images', 'missing.jpg'))
    ds = COCODataSet(root, 'images', 'annotations/instances.json')
    assert [int(r['im_id'][0]) for r in ds.roidbs] == [1, 4]
    np.testing.assert_allclose(ds.roidbs[1]['gt_bbox'], [[70, 50, 80, 64]])
    assert ds.skip_counter.records == {'missing files': 1, 'no boxes': 2}
    assert 'skipped 3 of 5 records: 1 missing files, 2 no boxes' in ppdet_log.text
    assert '1 clipped to the image' in ppdet_log.text
    assert '2 dropped as degenerate' in ppdet_log.text
    assert 'missing.jpg' in ppdet_log.text


def test_allow_empty_and_empty_ratio(tmp_path):
    root = str(tmp_path)
    images = [(i, '%d.jpg' % i, 40, 40) for i in range(1, 7)]
    anns = [(1, 3, [1, 1, 10, 10]), (2, 7, [1, 1, 10, 10])]
    write_coco(root, images, anns, CATS)
    assert len(COCODataSet(root, 'images', 'annotations/instances.json')) == 2
    ds = COCODataSet(root, 'images', 'annotations/instances.json', allow_empty=True)
    assert len(ds) == 6 and ds.roidbs[5]['gt_bbox'].shape == (0, 4)
    ds = COCODataSet(root, 'images', 'annotations/instances.json', allow_empty=True,
                     empty_ratio=0.5)
    assert len(ds) == 4  # 2 with boxes + as many empty
    ds = COCODataSet(root, 'images', 'annotations/instances.json', allow_empty=True,
                     sample_num=3)
    assert len(ds) == 3


def test_empty_and_missing_annotation_files(tmp_path):
    root = str(tmp_path)
    os.makedirs(os.path.join(root, 'annotations'))
    open(os.path.join(root, 'annotations', 'empty.json'), 'w').close()
    with pytest.raises(ValueError, match='empty.json is empty'):
        COCODataSet(root, 'images', 'annotations/empty.json')
    write_coco(root, [], [], CATS, anno='annotations/noimages.json')
    with pytest.raises(ValueError, match='noimages.json lists no images'):
        COCODataSet(root, 'images', 'annotations/noimages.json')
    with pytest.raises(FileNotFoundError, match='nothere.json.*dataset_dir=%r' % root):
        COCODataSet(root, 'images', 'annotations/nothere.json')


def test_all_records_bad_is_an_error(tmp_path):
    root = str(tmp_path)
    write_coco(root, [(1, 'a.jpg', 40, 40)], [(1, 3, [1, 1, 10, 10])], CATS, write_images=False)
    with pytest.raises(ValueError, match='no usable records.*1 missing files'):
        COCODataSet(root, 'images', 'annotations/instances.json')


def _coco_with_one_bad_image(root):
    """Image 1 (bad.jpg) is not a JPEG, image 2 (good.jpg) is fine."""
    write_coco(root, [(1, 'bad.jpg', 40, 40), (2, 'good.jpg', 40, 40)],
               [(1, 3, [1, 1, 10, 10]), (2, 7, [2, 2, 20, 20])], CATS)
    with open(os.path.join(root, 'images', 'bad.jpg'), 'wb') as f:
        f.write(b'this is not a JPEG at all')
    return COCODataSet(root, 'images', 'annotations/instances.json')


def test_corrupt_image_is_replaced_and_counted(tmp_path, ppdet_log):
    root = str(tmp_path)
    ds = _coco_with_one_bad_image(root)
    ds.on_bad_image = 'substitute'  # what build_dataset sets for TrainDataset
    ds.set_transform(Compose([{'Decode': {}}]))
    sample = ds[0]
    assert sample['im_id'].tolist() == [2] and sample['image'].shape == (40, 40, 3)
    assert ds.num_bad_images == 1
    assert 'cannot decode image %s' % os.path.join(root, 'images', 'bad.jpg') in ppdet_log.text
    assert ds[0]['im_id'].tolist() == [2]  # known-bad record is skipped without retrying


def test_only_corrupt_images_raise_with_path(tmp_path):
    root = str(tmp_path)
    write_coco(root, [(1, 'bad.jpg', 40, 40)], [(1, 3, [1, 1, 10, 10])], CATS)
    with open(os.path.join(root, 'images', 'bad.jpg'), 'wb') as f:
        f.write(b'\xff\xd8 truncated')
    ds = COCODataSet(root, 'images', 'annotations/instances.json')
    ds.on_bad_image = 'substitute'
    ds.set_transform(Compose([{'Decode': {}}]))
    with pytest.raises(ImageDecodeError, match='none of the 1 image.*bad.jpg'):
        ds[0]
    skip = COCODataSet(root, 'images', 'annotations/instances.json')  # eval / test policy
    with pytest.raises(ImageDecodeError, match='none of the 1 image.*bad.jpg'):
        skip.set_transform(Compose([{'Decode': {}}]))


def test_eval_policy_leaves_corrupt_image_out_instead_of_replacing_it(tmp_path, ppdet_log):
    root = str(tmp_path)
    ds = _coco_with_one_bad_image(root)
    ds.set_transform(Compose([{'Decode': {}}]))
    assert [int(ds[i]['im_id'][0]) for i in range(len(ds))] == [2]
    assert [p for p, _ in ds.skipped_images] == [os.path.join(root, 'images', 'bad.jpg')]
    assert '1 of 2 images cannot be decoded and are left out' in ppdet_log.text


def test_truncated_jpeg_is_named_and_counted(tmp_path, ppdet_log):
    root = str(tmp_path)
    write_coco(root, [(1, 'cut.jpg', 64, 48), (2, 'good.jpg', 64, 48)],
               [(1, 3, [1, 1, 10, 10]), (2, 7, [2, 2, 20, 20])], CATS)
    path = os.path.join(root, 'images', 'cut.jpg')
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write(data[:int(len(data) * 0.7)])  # still decodes: the rest comes out grey
    ds = COCODataSet(root, 'images', 'annotations/instances.json')
    ds.set_transform(Compose([{'Decode': {}}]))
    assert len(ds) == 2 and [p for p, _ in ds.truncated_images] == [path]
    assert ds[0]['image'].shape == (48, 64, 3)
    assert '%s: JPEG end-of-image marker (FFD9) missing' % path in ppdet_log.text
    assert '1 of 2 images are truncated and used as decoded: %s' % path in ppdet_log.text


def test_image_size_disagreeing_with_annotation(tmp_path, ppdet_log):
    root = str(tmp_path)
    write_coco(root, [(1, 'a.jpg', 100, 100)], [(1, 3, [50, 50, 40, 40])], CATS,
               write_images=False)
    write_jpg(os.path.join(root, 'images', 'a.jpg'), h=60, w=70)
    ds = COCODataSet(root, 'images', 'annotations/instances.json')
    ds.set_transform(Compose([{'Decode': {}}]))
    s = ds[0]
    assert (s['h'], s['w']) == (60, 70)
    np.testing.assert_allclose(s['gt_bbox'], [[50, 50, 70, 60]])
    assert 'annotation says 100x100' in ppdet_log.text
    ds[0]
    assert ppdet_log.text.count('annotation says 100x100') == 1    # once, not every epoch


def test_an_exif_rotated_jpeg_annotated_with_its_stored_size_is_named(tmp_path, ppdet_log):
    """Stored 30 wide x 20 high with EXIF orientation 6: decoders turn it to 20 x 30, the
    annotation says 30 x 20; the warning said 'using the image size' (the boxes had been
    clipped to the annotation's size already) and nothing of the EXIF."""
    from PIL import Image
    root = str(tmp_path)
    write_coco(root, [(1, 'r.jpg', 30, 20)], [(1, 3, [2, 2, 10, 10])], CATS, write_images=False)
    exif = Image.Exif()
    exif[0x0112] = 6
    os.makedirs(os.path.join(root, 'images'), exist_ok=True)
    Image.new('RGB', (30, 20), (90, 120, 150)).save(os.path.join(root, 'images', 'r.jpg'),
                                                   exif=exif.tobytes())
    ds = COCODataSet(root, 'images', 'annotations/instances.json')
    ds.set_transform(Compose([{'Decode': {}}]))
    assert ds[0]['image'].shape[:2] == (30, 20)
    assert ('annotation says 30x20 (w x h) but the image decodes as 20x30 (its EXIF orientation '
            '6 turns it by 90 degrees when decoded: the annotation has the stored size); its '
            'boxes are clipped to the decoded 20x30, not to the annotation\'s size') \
        in ppdet_log.text, ppdet_log.text


def test_background_placeholder_category_is_not_class_zero(tmp_path, ppdet_log):
    # labelme-style export: category 0 '_background_' without annotations, real ids from 1
    root = str(tmp_path)
    write_coco(root, [(1, 'a.jpg', 40, 40)], [(1, 1, [1, 1, 10, 10]), (1, 2, [5, 5, 20, 20])],
               [(0, '_background_'), (1, 'cat'), (2, 'dog')])
    ds = COCODataSet(root, 'images', 'annotations/instances.json')
    assert ds.catid2clsid == {1: 0, 2: 1} and ds.label_list() == ['cat', 'dog']
    assert ds.roidbs[0]['gt_class'].reshape(-1).tolist() == [0, 1]
    assert "category '_background_' (id 0) has no annotations and is left out" in ppdet_log.text


def test_num_classes_is_checked_against_the_dataset(tmp_path):
    from ppdet.core.workspace import ConfigError
    from ppdet.data import build_dataset
    root = str(tmp_path)
    write_coco(root, [(1, 'a.jpg', 40, 40)], [(1, 3, [1, 1, 10, 10])], CATS)
    section = {'name': 'COCODataSet', 'dataset_dir': root, 'image_dir': 'images',
               'anno_path': 'annotations/instances.json'}
    cfg = {'num_classes': len(CATS), 'EvalDataset': section}
    assert build_dataset(cfg, 'EvalDataset').on_bad_image == 'skip'
    with pytest.raises(ConfigError, match=r'num_classes is 80 but EvalDataset .* has %d classes'
                                          r'.*-o num_classes=%d' % (len(CATS), len(CATS))):
        build_dataset(dict(cfg, num_classes=80), 'EvalDataset')
