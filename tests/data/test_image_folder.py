import os

import numpy as np
import pytest

from ppdet.data import ImageFolder
from ppdet.data.reader import Compose

from datagen import write_coco, write_jpg


def test_labels_from_coco_json_and_set_images(tmp_path):
    root = str(tmp_path)
    write_coco(root, [(1, 'a.jpg', 40, 30)], [], [(11, 'bird'), (3, 'cat')], write_images=False)
    ds = ImageFolder(root, 'annotations/instances.json')
    assert ds.label_list() == ['cat', 'bird']
    assert ds.clsid2catid == {0: 3, 1: 11}
    imgs = [write_jpg(os.path.join(root, 'x', '%d.jpg' % i), h=30 + i, w=40) for i in range(3)]
    ds.set_images(imgs)
    assert len(ds) == 3 and ds.get_imid2path() == {0: imgs[0], 1: imgs[1], 2: imgs[2]}
    ds.set_transform(Compose([{'Decode': {}}]))
    s = ds[2]
    assert s['image'].shape == (32, 40, 3) and s['image'].dtype == np.float32
    np.testing.assert_array_equal(s['im_shape'], [32, 40])
    ds.set_images(os.path.join(root, 'x'))  # a directory is listed
    assert len(ds) == 3


def test_labels_from_label_list_and_errors(tmp_path):
    root = str(tmp_path)
    with open(os.path.join(root, 'label_list.txt'), 'w') as f:
        f.write('a\nb\n')
    ds = ImageFolder(root, 'label_list.txt')
    assert ds.label_list() == ['a', 'b'] and ds.num_classes == 2
    with pytest.raises(FileNotFoundError, match='nope.jpg'):
        ds.set_images([os.path.join(root, 'nope.jpg')])
    with pytest.raises(FileNotFoundError, match='labels.txt not found'):
        ImageFolder(root, 'labels.txt')
