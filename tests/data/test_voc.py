import os

import numpy as np
import pytest

from ppdet.data import VOCDataSet

from datagen import write_voc

LABELS = ['aeroplane', 'bicycle', 'bird']


def test_parse_list_xml_and_labels(tmp_path):
    root = str(tmp_path)
    write_voc(root, [('a', 80, 60, [('bird', (10, 5, 30, 25), 0), ('aeroplane', (1, 2, 3, 4), 1)]),
                     ('b', 80, 60, [('bicycle', (0, 0, 80, 60), 0)])], LABELS)
    ds = VOCDataSet(root, 'trainval.txt', 'label_list.txt')
    assert ds.label_list() == LABELS and ds.num_classes == 3
    assert ds.catid2clsid == {0: 0, 1: 1, 2: 2}
    assert len(ds) == 2
    rec = ds.roidbs[0]
    assert rec['im_file'] == os.path.join(root, 'JPEGImages', 'a.jpg')
    assert (rec['h'], rec['w']) == (60, 80) and rec['im_id'].tolist() == [0]
    np.testing.assert_allclose(rec['gt_bbox'], [[10, 5, 30, 25], [1, 2, 3, 4]])
    assert rec['gt_class'].tolist() == [[2], [0]] and rec['gt_class'].dtype == np.int32
    assert rec['difficult'].tolist() == [[0], [1]]
    assert ds.get_imid2path()[1].endswith('b.jpg')


def test_bad_records_are_counted(tmp_path, ppdet_log):
    root = str(tmp_path)
    write_voc(root, [('ok', 80, 60, [('bird', (10, 5, 30, 25), 0)]),
                     ('outside', 80, 60, [('bird', (70, 50, 100, 90), 0),   # clipped
                                          ('bird', (40, 40, 30, 50), 0)]),  # xmax < xmin: dropped
                     ('degenerate', 80, 60, [('bird', (5, 5, 5, 20), 0)]),  # zero width
                     ('gone', 80, 60, [('bird', (1, 1, 5, 5), 0)]),
                     ('noxml', 80, 60, None),
                     ('broken', 80, 60, [])], LABELS)
    os.remove(os.path.join(root, 'JPEGImages', 'gone.jpg'))
    with open(os.path.join(root, 'Annotations', 'broken.xml'), 'w') as f:
        f.write('<annotation><size>')
    ds = VOCDataSet(root, 'trainval.txt', 'label_list.txt')
    assert [os.path.basename(r['im_file']) for r in ds.roidbs] == ['ok.jpg', 'outside.jpg']
    np.testing.assert_allclose(ds.roidbs[1]['gt_bbox'], [[70, 50, 80, 60]])
    assert ds.skip_counter.records == {'missing files': 1, 'missing annotation files': 1,
                                       'no boxes': 1, 'unreadable annotation files': 1}
    assert ('skipped 4 of 6 records: 1 missing annotation files, 1 missing files, 1 no boxes, '
            '1 unreadable annotation files') in ppdet_log.text
    assert '1 clipped to the image' in ppdet_log.text
    assert '2 dropped as degenerate' in ppdet_log.text


def test_allow_empty_and_sample_num(tmp_path):
    root = str(tmp_path)
    write_voc(root, [('a', 40, 40, []), ('b', 40, 40, [('bird', (1, 1, 9, 9), 0)]),
                     ('c', 40, 40, [('bird', (1, 1, 9, 9), 0)])], LABELS)
    assert len(VOCDataSet(root, 'trainval.txt', 'label_list.txt')) == 2
    assert len(VOCDataSet(root, 'trainval.txt', 'label_list.txt', allow_empty=True)) == 3
    assert len(VOCDataSet(root, 'trainval.txt', 'label_list.txt', sample_num=2)) == 1


def test_unknown_class_names_the_file_and_a_fix(tmp_path):
    root = str(tmp_path)
    write_voc(root, [('a', 40, 40, [('brid', (1, 1, 9, 9), 0)])], LABELS)
    with pytest.raises(ValueError, match=r"a\.xml: class 'brid' is not in the label list.*'bird'"):
        VOCDataSet(root, 'trainval.txt', 'label_list.txt')


def test_empty_and_missing_files(tmp_path):
    root = str(tmp_path)
    write_voc(root, [], LABELS, list_name='empty.txt')
    with pytest.raises(ValueError, match='VOC image list .*empty.txt is empty'):
        VOCDataSet(root, 'empty.txt', 'label_list.txt')
    with pytest.raises(FileNotFoundError, match=r'nothere\.txt not found \(dataset_dir=%r' % root):
        VOCDataSet(root, 'nothere.txt', 'label_list.txt')
    with pytest.raises(FileNotFoundError, match='label list .*labels.txt not found'):
        VOCDataSet(root, 'empty.txt', 'labels.txt')
    with open(os.path.join(root, 'bad.txt'), 'w') as f:
        f.write('JPEGImages/a.jpg\n')
    with pytest.raises(ValueError, match='bad.txt line 1'):
        VOCDataSet(root, 'bad.txt', 'label_list.txt')


def test_unreadable_annotation_files_say_why_with_their_names(tmp_path, ppdet_log):
    """The reason parse_voc_xml gives is kept (the first few, each naming its file); it used
    to be thrown away: '3 unreadable annotation files' and one path."""
    root = str(tmp_path)
    write_voc(root, [('ok', 80, 60, [('bird', (10, 5, 30, 25), 0)]),
                     ('nobox', 80, 60, []), ('badnum', 80, 60, [('bird', ('23a7', 5, 30, 25), 0)]),
                     ('cut', 80, 60, []), ('badsize', 80, 60, [])], LABELS)
    ann = os.path.join(root, 'Annotations')
    with open(os.path.join(ann, 'nobox.xml'), 'w') as f:
        f.write('<annotation><size><width>80</width><height>60</height></size>'
                '<object><name>bird</name></object></annotation>')
    with open(os.path.join(ann, 'cut.xml'), 'w') as f:
        f.write('<annotation><size><width>80</width>')
    with open(os.path.join(ann, 'badsize.xml'), 'w') as f:
        f.write('<annotation><size><width>8O</width><height>60</height></size></annotation>')
    ds = VOCDataSet(root, 'trainval.txt', 'label_list.txt')
    assert [os.path.basename(r['im_file']) for r in ds.roidbs] == ['ok.jpg']
    assert ds.skip_counter.records == {'unreadable annotation files': 4}
    text = ppdet_log.text
    assert 'skipped 4 of 5 records: 4 unreadable annotation files' in text
    assert "%s: object 1 ('bird') has no <bndbox>" % os.path.join(ann, 'nobox.xml') in text
    assert ("%s: <xmin> of object 1 ('bird') is '23a7', not a number"
            % os.path.join(ann, 'badnum.xml')) in text
    assert 'cannot parse %s: no element found' % os.path.join(ann, 'cut.xml') in text
    assert '; 1 more' in text   # the fourth reason is counted, not listed
    assert 'badsize.xml' not in text


def test_parse_voc_xml_names_file_element_and_value(tmp_path):
    from ppdet.data.source.voc import parse_voc_xml
    path = str(tmp_path / 'a.xml')
    with open(path, 'w') as f:
        f.write('<annotation><size><width>80</width><height>6O</height></size></annotation>')
    with pytest.raises(ValueError, match=r"a\.xml: <height> of <size> is '6O', not a number"):
        parse_voc_xml(path)
    with open(path, 'w') as f:
        f.write('<annotation><object><name>cat</name><difficult>yes</difficult><bndbox>'
                '<xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object>'
                '</annotation>')
    with pytest.raises(ValueError, match=r"a\.xml: <difficult> of object 1 \('cat'\) is 'yes'"):
        parse_voc_xml(path)
