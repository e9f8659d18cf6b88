"""Bad input that used to get a misleading message, each refused (or counted) with the real
reason:

* a mapping where a list of transforms is expected (``-o "EvalReader.sample_transforms=
  {Resize: {target_size: 160}}"``) was read as the list of its keys and failed with
  "Resize needs target_size"; ``batch_size: 2.0`` was refused while ``epoch: 1.0`` is not;
* a WIDER FACE face line with a value that is not a number (``16a6 103 ...``) was taken
  for an image path: two images were counted bad, for the wrong reasons, out of one image
  too many;
* a typo in ``anno_path`` / ``label_list`` of a dataset that is there got the generator
  command (``tools/gen_dataset.py``) instead of the close names in the folder;
* two COCO categories with the same name were accepted, and the label list came out one
  short and shifted.
"""
import copy
import json
import os

import numpy as np
import pytest

from ppdet.core.workspace import ConfigError, load_config
from ppdet.data import COCODataSet, build_dataset, create_reader
from ppdet.data.reader import build_transforms
from ppdet.data.source.dataset import DatasetError, check_anno_file
from ppdet.data.source.widerface import (BAD_COUNT, BAD_FACE_VALUE, WIDERFaceDataSet,
                                         read_wider_annotation)
from ppdet.metrics.coco_utils import load_coco_gt

from datagen import write_coco
from script_errors import one_error_line
from test_reader import make_cfg
from wider_tree import IMAGES, face_line, write_wider

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILTIN = os.path.join(ROOT, 'configs', 'builtin', 'yolov3_mobilenet_v1_builtin.yml')


def _script_fails(args, tmp_path):
    """tools/train.py on the small built-in set with ``args``: one ``error:`` line."""
    return one_error_line('tools/train.py', *args, 'save_dir=%s' % (tmp_path / 'out'),
                          'epoch=1', 'max_iters_per_epoch=1')


# --- 1. the transform list and batch_size -----------------------------------------------

def test_a_mapping_for_the_transform_list_shows_the_list_form():
    where = 'EvalReader.sample_transforms'
    with pytest.raises(ConfigError) as e:
        build_transforms({'Resize': {'target_size': 160}}, where)
    msg = str(e.value)
    assert msg.startswith('EvalReader.sample_transforms must be a list of transforms, each a '
                          'one-key mapping'), msg
    assert '-o "EvalReader.sample_transforms=[{Resize: {target_size: 160}}, ...]"' in msg
    assert 'needs target_size' not in msg
    with pytest.raises(ConfigError, match=r'got str \'Decode\'.*-o "EvalReader.sample_transforms'
                                          r'=\[\{Decode: \{\}\}, \{Resize:'):
        build_transforms('Decode', where)   # was read letter by letter: "unknown transform 'D'"


@pytest.mark.parametrize('specs,expected', [
    ([{'Decode': {}, 'Resize': {'target_size': 160}}],
     'EvalReader.sample_transforms[0] is a mapping of 2 transforms (Decode, Resize); each entry '
     'of the list must be a one-key mapping: [{Decode: {}}, {Resize: {target_size: 160}}]'),
    ([{'Decode': {}}, 3], 'EvalReader.sample_transforms[1]: each entry must be a one-key '
                          'mapping like {Decode: {}} ("- Decode: {}" in YAML), got 3'),
    ([{'Decode': {}}, None], 'EvalReader.sample_transforms[1]: each entry must be a one-key '
                             'mapping like {Decode: {}} ("- Decode: {}" in YAML), got null'),
    ([{'Decode': {}}, {'Resize': 160}], 'EvalReader.sample_transforms[1] (Resize): its '
                                        'arguments must be a mapping like {Resize: {...}} ({} '
                                        'for none), got 160'),
], ids=['two keys', 'number', 'null', 'bare args'])
def test_each_entry_must_be_a_one_key_mapping(specs, expected):
    with pytest.raises(ConfigError) as e:
        build_transforms(specs, 'EvalReader.sample_transforms')
    assert str(e.value) == expected


def test_the_list_forms_still_build():
    ops = build_transforms([{'Decode': {}}, 'Permute', {'Resize': {'target_size': 32}}], 'x')
    assert [type(o).__name__ for o in ops] == ['Decode', 'Permute', 'Resize']
    assert build_transforms(None) == [] and build_transforms(()) == []
    assert build_transforms({}) == []


def test_batch_size_takes_a_whole_float_and_refuses_the_rest(builtin_dir):
    cfg = make_cfg(builtin_dir)
    cfg['EvalReader']['batch_size'] = 2.0
    loader = create_reader(cfg, 'eval')
    assert loader.batch_sampler.batch_size == 2
    assert isinstance(loader.batch_sampler.batch_size, int)
    assert [len(b['im_id']) for b in loader][:2] == [2, 2]
    for bad in (0, -1, 2.5, 0.0, float('nan'), 'abc', True, [2]):
        c = copy.deepcopy(cfg)
        c['EvalReader']['batch_size'] = bad
        with pytest.raises(ConfigError, match=r'^EvalReader\.batch_size must be an integer '
                                              r'>= 1, got .*; e\.g\. -o EvalReader\.batch_size=8'):
            create_reader(c, 'eval')


@pytest.mark.slow
def test_train_script_shows_the_list_form(builtin_dir, tmp_path):
    coco = os.path.join(builtin_dir, 'coco')
    line = _script_fails(['-c', BUILTIN, '--eval', '-o', 'TrainDataset.dataset_dir=' + coco,
                          'EvalDataset.dataset_dir=' + coco,
                          'EvalReader.sample_transforms={Resize: {target_size: 160}}'], tmp_path)
    assert line.startswith('error: EvalReader.sample_transforms must be a list'), line
    assert '-o "EvalReader.sample_transforms=[{Resize: {target_size: 160}}, ...]"' in line


# --- 2. a WIDER FACE face line with a value that is not a number -------------------------

def _wider_with(root, old, new, count=None):
    anno = write_wider(root, [
        ('0--Parade/a.jpg', [face_line(10, 5, 20, 12)]),
        ('0--Parade/b.jpg', [face_line(166, 3, 20, 20), face_line(1, 1, 9, 9)]),
        ('1--Handshaking/c.jpg', [face_line(2, 3, 4, 5)]),
    ], size=(200, 100))
    path = os.path.join(root, anno)
    with open(path) as f:
        text = f.read()
    assert text.count(old) == 1
    with open(path, 'w') as f:
        f.write(text.replace(old, new))
    return anno, path


@pytest.mark.parametrize('old,new,detail', [
    ('166 3 20 20', '16a6 3 20 20', "line 6: box value '16a6' is not a number"),
    ('1 1 9 9 0 0', '1 1 9 9 x 0', "line 7: blur value 'x' is not a number"),
], ids=['box', 'attribute'])
def test_a_bad_number_is_that_images_error_and_later_images_keep_theirs(tmp_path, ppdet_log,
                                                                        old, new, detail):
    root = str(tmp_path)
    anno, path = _wider_with(root, old, new)
    entries = read_wider_annotation(path)
    assert [e['file'] for e in entries] == ['0--Parade/a.jpg', '0--Parade/b.jpg',
                                            '1--Handshaking/c.jpg']
    assert [e['error'] for e in entries] == [None, BAD_FACE_VALUE, None]
    assert entries[1]['detail'] == detail
    ds = WIDERFaceDataSet(root, IMAGES % 'val', anno)
    assert [r['wider_name'] for r in ds.roidbs] == ['a', 'c']
    assert [int(r['im_id'][0]) for r in ds.roidbs] == [0, 2]
    np.testing.assert_allclose(ds.roidbs[1]['gt_bbox'], [[2, 3, 6, 8]])
    assert ds.skip_counter.records == {BAD_FACE_VALUE: 1}
    log = ppdet_log.text
    assert 'skipped 1 of 3 records: 1 %s' % BAD_FACE_VALUE in log, log
    assert '%s line 4 (0--Parade/b.jpg: %s)' % (path, detail) in log, log
    assert 'face count' not in log


def test_a_count_that_is_not_a_number_keeps_its_image(tmp_path, ppdet_log):
    root = str(tmp_path)
    anno, path = _wider_with(root, 'b.jpg\n2\n', 'b.jpg\n2a\n')
    entries = read_wider_annotation(path)
    assert [e['file'] for e in entries] == ['0--Parade/a.jpg', '0--Parade/b.jpg',
                                            '1--Handshaking/c.jpg']
    assert [e['error'] for e in entries] == [None, BAD_COUNT, None]
    assert entries[1]['detail'] == "line 5: '2a'"
    ds = WIDERFaceDataSet(root, IMAGES % 'val', anno)
    assert [r['wider_name'] for r in ds.roidbs] == ['a', 'c']
    assert 'skipped 1 of 3 records: 1 %s' % BAD_COUNT in ppdet_log.text


def test_the_generated_face_set_with_the_reported_typo(tmp_path, ppdet_log):
    """The report: ``166`` -> ``16a6`` on a box line of the generated val set."""
    from ppdet.data.synthetic_faces import generate_face_dataset
    root = str(tmp_path / 'faces')
    generate_face_dataset(root, num_train=1, num_val=6, min_side=128, max_side=160, seed=0)
    anno = 'wider_face_split/wider_face_val_bbx_gt.txt'
    path = os.path.join(root, anno)
    with open(path) as f:
        lines = f.read().split('\n')
    # the first box line of the first image with faces
    k = next(i for i in range(2, len(lines)) if len(lines[i].split()) == 10 and
             lines[i - 1].strip().isdigit() and int(lines[i - 1]) > 0)
    toks = lines[k].split()
    toks[0] = toks[0][:1] + 'a' + toks[0][1:]
    lines[k] = ' '.join(toks)
    with open(path, 'w') as f:
        f.write('\n'.join(lines))
    ds = WIDERFaceDataSet(root, 'WIDER_val/images', anno, allow_empty=True)
    assert len(ds) == 5
    assert ds.skip_counter.records == {BAD_FACE_VALUE: 1}
    assert 'skipped 1 of 6 records' in ppdet_log.text
    assert "line %d: box value '%s' is not a number" % (k + 1, toks[0]) in ppdet_log.text


# --- 3. a typo in anno_path / label_list of a dataset that is there ------------------------

def _missing(config, section, overrides):
    cfg = load_config(os.path.join(ROOT, config), overrides=overrides)
    with pytest.raises(FileNotFoundError) as e:
        build_dataset(cfg, section)
    return str(e.value)


@pytest.mark.parametrize('key,value,where,guess', [
    ('anno_path', 'annotations/instances_vall.json', 'annotations/ has no instances_vall.json',
     'annotations/instances_val.json'),
    ('anno_path', 'annotation/instances_val.json', 'it has no annotation/',
     'annotations/instances_val.json'),
], ids=['file', 'folder'])
def test_coco_typo_names_the_close_file_and_the_key(builtin_dir, key, value, where, guess):
    coco = os.path.join(builtin_dir, 'coco')
    msg = _missing('configs/datasets/builtin_coco.yml', 'EvalDataset',
                   ['EvalDataset.dataset_dir=' + coco, 'EvalDataset.%s=%s' % (key, value)])
    assert msg.startswith('annotation file %s not found' % os.path.join(coco, value)), msg
    assert '%s is there, but %s; did you mean %s? Fix anno_path' % (coco, where, guess) in msg
    assert '-o EvalDataset.anno_path=%s' % guess in msg
    assert 'gen_dataset.py' not in msg


def test_voc_typo_names_the_close_file_and_the_key(builtin_dir):
    voc = os.path.join(builtin_dir, 'voc')
    msg = _missing('configs/datasets/builtin_voc.yml', 'EvalDataset',
                   ['EvalDataset.dataset_dir=' + voc, 'EvalDataset.anno_path=tst.txt'])
    assert msg.startswith('VOC image list %s not found' % os.path.join(voc, 'tst.txt'))
    assert 'did you mean test.txt? Fix anno_path' in msg and 'gen_dataset.py' not in msg
    msg = _missing('configs/datasets/builtin_voc.yml', 'TrainDataset',
                   ['TrainDataset.dataset_dir=' + voc, 'TrainDataset.label_list=labels_list.txt'])
    assert msg.startswith('label list %s not found (dataset_dir=%r; label_list is relative to '
                          'it)' % (os.path.join(voc, 'labels_list.txt'), voc)), msg
    assert 'did you mean label_list.txt? Fix label_list in the section that names it (-o ' \
           'TrainDataset.label_list=label_list.txt' in msg
    assert 'gen_dataset.py' not in msg


def test_nothing_close_lists_the_folder_and_keeps_the_hint(builtin_dir, tmp_path):
    """A sibling is not a typo (instances_val2017 vs instances_train...: the val file may
    simply not be there yet); an empty or missing dataset_dir gets the hint alone."""
    coco = os.path.join(builtin_dir, 'coco')
    msg = _missing('configs/datasets/builtin_coco.yml', 'EvalDataset',
                   ['EvalDataset.dataset_dir=' + coco,
                    'EvalDataset.anno_path=annotations/instances_val2017.json'])
    assert ('%s is there, but annotations/ has no instances_val2017.json (it holds '
            'instances_train.json, instances_val.json). If anno_path names the wrong file, fix '
            'it. For the built-in dataset run: python tools/gen_dataset.py --output_dir %s'
            % (coco, builtin_dir)) in msg, msg
    assert 'did you mean' not in msg
    empty = tmp_path / 'builtin' / 'coco'
    empty.mkdir(parents=True)
    msg = _missing('configs/datasets/builtin_coco.yml', 'EvalDataset',
                   ['EvalDataset.dataset_dir=%s' % empty])
    assert msg.endswith('anno_path is relative to it). For the built-in dataset run: python '
                        'tools/gen_dataset.py --output_dir %s' % empty.parent), msg


def test_check_anno_file_outside_dataset_dir_and_sections(tmp_path):
    (tmp_path / 'data').mkdir()
    (tmp_path / 'labels.txt').write_text('a\n')
    with pytest.raises(FileNotFoundError) as e:
        check_anno_file(str(tmp_path / 'lables.txt'), str(tmp_path / 'data'), what='label source',
                        hint='HINT', sections=('TestDataset',))
    msg = str(e.value)
    assert 'did you mean %s? Fix anno_path in the section that names it (-o ' \
           'TestDataset.anno_path=%s).' % (tmp_path / 'labels.txt', tmp_path / 'labels.txt') \
        in msg and 'HINT' not in msg, msg
    assert check_anno_file(str(tmp_path / 'labels.txt'), '') == str(tmp_path / 'labels.txt')


@pytest.mark.slow
@pytest.mark.parametrize('layout,value,guess', [
    ('coco', 'annotations/instances_vall.json', 'annotations/instances_val.json'),
    ('voc', 'tst.txt', 'test.txt'),
])
def test_train_script_names_the_close_file(builtin_dir, tmp_path, layout, value, guess):
    data = os.path.join(builtin_dir, layout)
    config = BUILTIN
    if layout == 'voc':
        config = str(tmp_path / 'voc.yml')
        with open(config, 'w') as f:
            f.write('_BASE_: [%s, %s]\n' % (BUILTIN, os.path.join(
                ROOT, 'configs', 'datasets', 'builtin_voc.yml')))
    line = _script_fails(['-c', config, '--eval', '-o', 'TrainDataset.dataset_dir=' + data,
                          'EvalDataset.dataset_dir=' + data, 'EvalDataset.anno_path=' + value],
                         tmp_path)
    assert line.startswith('error: ') and os.path.join(data, value) + ' not found' in line, line
    assert 'did you mean %s? Fix anno_path' % guess in line, line
    assert '-o EvalDataset.anno_path=%s' % guess in line
    assert 'gen_dataset.py' not in line


# --- 4. two COCO categories with the same name -------------------------------------------

IMAGES_ = [(1, 'one.jpg', 64, 48), (2, 'two.jpg', 64, 48)]
ANNS = [(1, 1, [2, 2, 20, 20]), (2, 3, [5, 5, 10, 10])]


@pytest.mark.parametrize('cats,expected', [
    ([(1, 'cat'), (2, 'dog'), (3, 'cat')],
     'categories[2] (id 3) has the name \'cat\', as categories[0] (id 1) does; give each '
     'category its own name, or merge the two into one'),
    ([(1, 'cat'), (2, 'dog'), (3, 'cat ')],
     'categories[2] (id 3) has the name \'cat \', as categories[0] (id 1, \'cat\') does'),
    ([(1, 'cat'), (3, 'dog'), (3, 'dog')],
     'categories[2] (id 3) repeats categories[1] (same id and name \'dog\'); remove one'),
], ids=['same name', 'same but a space', 'same entry twice'])
def test_coco_categories_with_one_name_are_refused(tmp_path, cats, expected):
    root = str(tmp_path)
    path = write_coco(root, IMAGES_, ANNS, cats)
    with pytest.raises(DatasetError) as reader:
        COCODataSet(root, 'images', 'annotations/instances.json', allow_empty=True)
    assert str(reader.value).startswith(path + ': ' + expected), str(reader.value)
    with pytest.raises(DatasetError) as metric:
        load_coco_gt(path)
    assert str(metric.value) == str(reader.value)


def test_coco_distinct_names_pass(tmp_path):
    root = str(tmp_path)
    write_coco(root, IMAGES_, ANNS, [(1, 'cat'), (2, 'Cat'), (3, 'dog')])
    ds = COCODataSet(root, 'images', 'annotations/instances.json')
    assert ds.label_list() == ['cat', 'Cat', 'dog'] and ds.num_classes == 3


@pytest.mark.slow
def test_train_script_refuses_two_categories_with_one_name(builtin_dir, tmp_path):
    import shutil
    coco = str(tmp_path / 'builtin' / 'coco')
    shutil.copytree(os.path.join(builtin_dir, 'coco'), coco)
    path = os.path.join(coco, 'annotations', 'instances_train.json')
    with open(path) as f:
        data = json.load(f)
    data['categories'][2]['name'] = data['categories'][0]['name']
    with open(path, 'w') as f:
        json.dump(data, f)
    line = _script_fails(['-c', BUILTIN, '-o', 'TrainDataset.dataset_dir=' + coco,
                          'EvalDataset.dataset_dir=' + coco], tmp_path)
    assert line.startswith('error: %s: categories[2] (id %d) has the name %r, as categories[0]'
                           % (path, data['categories'][2]['id'],
                              data['categories'][0]['name'])), line
