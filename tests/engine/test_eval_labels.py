"""An eval set whose class names the checkpoint was not trained with in that order: only the
count was checked, so an eval json with the ids of two classes swapped (valid COCO) scored
each class's detections against the other's ground truth (audit: AP 0.1156 -> 0.1004,
'circle' 0.0000, no word).  Checkpoints now record their training classes."""
import json
import os
import shutil

import pytest

from ppdet.core.workspace import load_config
from ppdet.engine import Trainer
from ppdet.utils.checkpoint import read_meta


@pytest.fixture(scope='module')
def trained(tmp_path_factory, tiny_dataset):
    from config_writer import write_tiny_config
    tmp = tmp_path_factory.mktemp('eval_labels')
    config = write_tiny_config(tmp, tiny_dataset)
    t = Trainer(load_config(config, overrides=['max_iters_per_epoch=1']), mode='train')
    t.train()
    return config, os.path.join(t.save_dir, 'model_final')


def _val_with(tmp_path, tiny_dataset, rename):
    """A copy of the tiny set whose val json names its categories through ``rename``."""
    root = str(tmp_path / 'set')
    shutil.copytree(tiny_dataset, root)
    path = os.path.join(root, 'coco', 'annotations', 'instances_val.json')
    with open(path) as f:
        d = json.load(f)
    for c in d['categories']:
        c['name'] = rename.get(c['name'], c['name'])
    with open(path, 'w') as f:
        json.dump(d, f)
    return os.path.join(root, 'coco')


def _eval(config, weights, dataset_dir):
    over = ['EvalDataset.dataset_dir=%s' % dataset_dir] if dataset_dir else []
    t = Trainer(load_config(config, overrides=over), mode='eval')
    t.load_weights(weights)
    return t.evaluate()


def test_the_checkpoint_records_its_classes_and_the_same_set_evaluates(trained):
    config, weights = trained
    assert read_meta(weights)['labels'] == ['circle', 'square', 'triangle', 'star', 'ring',
                                            'cross']
    assert _eval(config, weights, None) is not None


def test_the_same_classes_in_another_order_are_refused(trained, tmp_path, tiny_dataset):
    config, weights = trained
    swapped = _val_with(tmp_path, tiny_dataset, {'circle': 'square', 'square': 'circle'})
    with pytest.raises(ValueError) as e:
        _eval(config, weights, swapped)
    assert str(e.value) == (
        'the eval set lists the classes %s was trained with in another order (0: square here, '
        'circle in training; 1: circle here, square in training): its detections of class k '
        'would be scored against another class; give the eval annotations the training set\'s '
        'category ids (training order: circle, square, triangle, star, ring, cross)' % weights)


def test_other_names_are_warned_about(trained, tmp_path, tiny_dataset, ppdet_log):
    config, weights = trained
    renamed = _val_with(tmp_path, tiny_dataset, {'star': 'pentagram'})
    _eval(config, weights, renamed)
    assert ('the eval set\'s class names differ from those %s was trained with (3: pentagram '
            'here, star in training)' % weights) in ppdet_log.text
