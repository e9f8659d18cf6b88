"""A COCO json that pycocotools would crash on, or read wrongly, is refused in one line naming
the file, the entry and the field, by the reader and by the metric alike (they load the file
separately); tools/eval.py prints it as one ``error:`` line (exit 2, no traceback).

Before: a repeated image id gave one image the other's boxes and dropped its own without a
word ("evaluated 7 images"); a missing key was a KeyError traceback from pycocotools'
createIndex; a bad bbox or width was numpy's message without the file."""
import copy
import json
import os
import shutil

import numpy as np
import pytest

from ppdet.data import COCODataSet
from ppdet.metrics.coco_utils import load_coco_gt

from datagen import write_coco
from script_errors import one_error_line

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CATS = [(1, 'a'), (2, 'b')]
IMAGES = [(1, 'one.jpg', 64, 48), (2, 'two.jpg', 64, 48), (3, 'three.jpg', 64, 48)]
ANNS = [(1, 1, [2, 2, 20, 20]), (1, 2, [30, 10, 20, 20]), (2, 2, [5, 5, 10, 10]),
        (3, 1, [10, 10, 30, 30])]


def _del(key):
    return lambda v: v.pop(key)


def _set(key, value):
    return lambda v: v.__setitem__(key, value)


# (case, where in the json, change, what the one-line message must say)
CASES = [
    ('duplicate image id', ('images', 1), _set('id', 1),
     'image id 1 is given to two images, images[0] (one.jpg) and images[1] (two.jpg); give '
     'each image its own id'),
    ('dangling image_id', ('annotations', 2), _set('image_id', 99),
     '1 annotation(s) name an image_id that no image has: annotations[2] (image_id 99); add '
     'those images to "images" or remove the annotations'),
    ('annotation without image_id', ('annotations', 3), _del('image_id'),
     'annotations[3] (id 4) has no "image_id"'),
    ('annotation without category_id', ('annotations', 1), _del('category_id'),
     'annotations[1] (id 2, image_id 1) has no "category_id"'),
    ('unknown category_id', ('annotations', 1), _set('category_id', 7),
     'annotations[1] (id 2, image_id 1) has category_id 7, which is not in "categories" '
     '([1, 2])'),
    ('image without id', ('images', 2), _del('id'), 'images[2] (three.jpg) has no "id"'),
    ('string image id', ('images', 2), _set('id', 'x3'),
     'images[2] (id \'x3\', three.jpg) has "id": \'x3\'; image ids must be integers'),
    ('category without name', ('categories', 1), _del('name'),
     'categories[1] (id 2) has no "name"'),
    ('category without id', ('categories', 0), _del('id'), 'categories[0] has no "id"'),
    ('annotations null', None, lambda d: d.__setitem__('annotations', None),
     '"annotations" is null; it must be a list (give [] for a set without boxes)'),
    ('3-number bbox', ('annotations', 0), _set('bbox', [1, 2, 3]),
     'annotations[0] (id 1, image_id 1) has "bbox": [1, 2, 3]; it must be 4 numbers '
     '[x, y, width, height]'),
    ('string bbox', ('annotations', 0), _set('bbox', 'abc'),
     'annotations[0] (id 1, image_id 1) has "bbox": \'abc\'; it must be 4 numbers'),
    ('string in bbox', ('annotations', 0), _set('bbox', [1, 2, 'a', 4]),
     'has "bbox": [1, 2, \'a\', 4]; it must be 4 numbers'),
    ('width not a number', ('images', 1), _set('width', 'abc'),
     'images[1] (id 2, two.jpg) has "width": \'abc\'; it must be a number of pixels'),
    ('image without file_name', ('images', 1), _del('file_name'),
     'images[1] (id 2) has no "file_name" (the image\'s path under image_dir)'),
    ('iscrowd not a number', ('annotations', 0), _set('iscrowd', 'no'),
     'annotations[0] (id 1, image_id 1) has "iscrowd": \'no\'; it must be a number'),
]


def _write_variant(root, where, change):
    """The small valid set, then one change to its json; -> the json's path."""
    path = write_coco(root, IMAGES, ANNS, CATS)
    with open(path) as f:
        data = json.load(f)
    if where is None:
        change(data)
    else:
        change(data[where[0]][where[1]])
    with open(path, 'w') as f:
        json.dump(data, f)
    return path


@pytest.mark.parametrize('case,where,change,expected', CASES, ids=[c[0] for c in CASES])
def test_reader_and_metric_refuse_naming_file_entry_and_field(tmp_path, case, where, change,
                                                               expected):
    root = str(tmp_path)
    path = _write_variant(root, where, change)
    with pytest.raises(ValueError) as reader:
        COCODataSet(root, 'images', 'annotations/instances.json', allow_empty=True)
    assert str(reader.value).startswith(path + ': ')
    assert expected in str(reader.value), str(reader.value)
    if case == 'image without file_name':   # the metric opens no image: not its business
        assert sorted(load_coco_gt(path).getImgIds()) == [1, 2, 3]
        return
    with pytest.raises(ValueError) as metric:   # COCOMetric's own load of the json
        load_coco_gt(path)
    assert str(metric.value) == str(reader.value)


def test_valid_set_passes_and_missing_bbox_or_size_is_still_counted(tmp_path, ppdet_log):
    """What the readers already count and drop (no bbox, no width) is not refused."""
    root = str(tmp_path)
    path = write_coco(root, IMAGES, ANNS, CATS)
    with open(path) as f:
        data = json.load(f)
    del data['annotations'][2]['bbox']      # image 2's only box: the image has none left
    del data['images'][2]['width']
    with open(path, 'w') as f:
        json.dump(data, f)
    ds = COCODataSet(root, 'images', 'annotations/instances.json')
    assert [int(r['im_id'][0]) for r in ds.roidbs] == [1]
    assert ds.skip_counter.records == {'no boxes': 1, 'without width/height': 1}
    assert sorted(load_coco_gt(path).getImgIds()) == [1, 2, 3]


@pytest.mark.parametrize('ids', [[1, 1, 1, 1], None], ids=['repeated', 'missing'])
def test_annotation_ids_repeated_or_missing_each_image_keeps_its_own_boxes(tmp_path, ids):
    """Annotation ids mean nothing to a detector: they are renumbered, not refused.  Before,
    repeated ids gave every image the box of the last annotation with that id (pycocotools
    looks annotations up by id), and missing ones were a KeyError traceback."""
    ref_root, root = str(tmp_path / 'ref'), str(tmp_path / 'bad')
    write_coco(ref_root, IMAGES, ANNS, CATS)
    path = write_coco(root, IMAGES, ANNS, CATS)
    with open(path) as f:
        data = json.load(f)
    for k, ann in enumerate(data['annotations']):
        if ids is None:
            del ann['id']
        else:
            ann['id'] = ids[k]
    with open(path, 'w') as f:
        json.dump(data, f)
    ref = COCODataSet(ref_root, 'images', 'annotations/instances.json')
    got = COCODataSet(root, 'images', 'annotations/instances.json')
    assert len(got) == len(ref) == 3
    for a, b in zip(got.roidbs, ref.roidbs):
        np.testing.assert_array_equal(a['gt_bbox'], b['gt_bbox'])
        np.testing.assert_array_equal(a['gt_class'], b['gt_class'])
    assert sorted(load_coco_gt(path).getAnnIds()) == [1, 2, 3, 4]


def test_label_source_json_is_checked_too(tmp_path):
    """export / infer read a COCO json for the class names through the same loader."""
    from ppdet.data import ImageFolder
    root = str(tmp_path)
    path = _write_variant(root, ('categories', 0), _del('name'))
    with pytest.raises(ValueError, match=r'%s: categories\[0\] \(id 1\) has no "name"'
                                         % path.replace('.', r'\.')):
        ImageFolder(root, 'annotations/instances.json')


# --- through tools/eval.py ---------------------------------------------------------------

@pytest.fixture(scope='module')
def eval_world(tmp_path_factory, tiny_dataset):
    """A tiny config over the built-in set and random weights that fit it (nothing trains:
    the json is refused before any image is read)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location('tests_root_conftest_coco_schema',
                                                  os.path.join(ROOT, 'tests', 'conftest.py'))
    root_conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(root_conftest)
    from ppdet.core.workspace import load_config
    from ppdet.engine import Trainer
    tmp = tmp_path_factory.mktemp('coco_schema_eval')
    cfg = root_conftest.write_tiny_config(str(tmp), tiny_dataset)
    weights = Trainer(load_config(cfg), mode='train').save(str(tmp / 'w'))
    return {'tmp': tmp, 'cfg': cfg, 'weights': weights,
            'coco': os.path.join(tiny_dataset, 'coco')}


def _eval_fails(world, name, change):
    """tools/eval.py on a copy of the built-in val set whose json got ``change``: exit 2,
    one ``error:`` line, no traceback; -> that line."""
    copy_dir = str(world['tmp'] / name)
    shutil.copytree(world['coco'], copy_dir)
    path = os.path.join(copy_dir, 'annotations', 'instances_val.json')
    with open(path) as f:
        data = json.load(f)
    change(data)
    with open(path, 'w') as f:
        json.dump(data, f)
    line = one_error_line('tools/eval.py', '-c', world['cfg'], '-o',
                          'weights=%s' % world['weights'], 'EvalDataset.dataset_dir=%s' % copy_dir)
    assert path in line, line
    # a data error, not presented as the config's (workspace.create wraps plain ValueErrors)
    assert line.startswith('error: %s: ' % path), line
    return line


def _first_two_images_share_an_id(data):
    data['images'][1]['id'] = data['images'][0]['id']


@pytest.mark.slow
def test_eval_refuses_a_repeated_image_id(eval_world):
    """The audit's case: images[1].id = images[0].id (eval said "evaluated 5 images")."""
    line = _eval_fails(eval_world, 'dup', _first_two_images_share_an_id)
    assert 'image id 1 is given to two images, images[0] (val_000001.jpg) and images[1] ' \
           '(val_000002.jpg)' in line


@pytest.mark.slow
def test_eval_refuses_an_annotation_of_no_image(eval_world):
    def dangling(data):
        data['annotations'][0]['image_id'] = 12345
    line = _eval_fails(eval_world, 'dangling', dangling)
    assert 'annotations[0] (image_id 12345)' in line and 'no image has' in line


@pytest.mark.slow
@pytest.mark.parametrize('name,change,expected', [
    ('no_image_id', lambda d: d['annotations'][0].pop('image_id'),
     'annotations[0] (id %s) has no "image_id"'),
    ('null_annotations', lambda d: d.__setitem__('annotations', None),
     '"annotations" is null; it must be a list'),
    ('no_category_name', lambda d: d['categories'][0].pop('name'),
     'categories[0] (id 1) has no "name"'),
    ('string_bbox', lambda d: d['annotations'][0].__setitem__('bbox', 'abc'),
     "has \"bbox\": 'abc'; it must be 4 numbers [x, y, width, height]"),
])
def test_eval_refuses_a_missing_key_or_bad_value_in_one_line(eval_world, name, change, expected):
    first_id = {}

    def record_then_change(data):
        first_id['id'] = copy.deepcopy(data['annotations'][0].get('id'))
        change(data)
    line = _eval_fails(eval_world, name, record_then_change)
    assert (expected % first_id['id'] if '%s' in expected else expected) in line, line
