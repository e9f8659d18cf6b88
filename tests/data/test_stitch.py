"""Stitch: the 2x2 mosaic at half scale, boxes checked by hand and by the painted pixels."""
import numpy as np
import pytest
import yaml

from ppdet.data.reader import BatchCompose, build_transforms
from ppdet.data.transform import Stitch
from ppdet.data.transform.stitch import stitch_samples


def sample(h, w, boxes, cls, value):
    """An image of grey ``value`` with each box painted 255."""
    im = np.full((h, w, 3), float(value), np.float32)
    for x1, y1, x2, y2 in np.asarray(boxes, int):
        im[y1:y2, x1:x2] = 255.
    n = len(boxes)
    return {'image': im, 'gt_bbox': np.asarray(boxes, np.float32).reshape(-1, 4),
            'gt_class': np.asarray(cls, np.int32).reshape(-1, 1),
            'is_crowd': np.zeros((n, 1), np.int32), 'im_id': np.array([value]),
            'im_shape': np.array([h, w], np.float32), 'h': h, 'w': w}


def four():
    return [sample(40, 60, [[0, 0, 20, 10]], [0], 10),
            sample(40, 60, [[10, 4, 30, 20]], [1], 20),
            sample(80, 40, [[0, 0, 40, 80], [0, 0, 1, 1]], [2, 5], 30),
            sample(40, 60, [[40, 20, 60, 40]], [3], 40)]


def test_mosaic_boxes_by_hand():
    out = stitch_samples(four(), (40, 60), keep_ratio=True, fill_value=(0, 0, 0))
    assert out['image'].shape == (40, 60, 3) and out['im_shape'].tolist() == [40, 60]
    # quadrants 20x30; 40x60 images scale by 0.5; the 80x40 one by min(20/80, 30/40) = 0.25
    # top-left +(0,0); top-right +(30,0); bottom-left +(0,20); bottom-right +(30,20)
    # the 1x1 box of image 3 becomes 0.25 px wide and is dropped (min_size 1)
    np.testing.assert_allclose(out['gt_bbox'], [[0, 0, 10, 5], [35, 2, 45, 10],
                                                [0, 20, 10, 40], [50, 30, 60, 40]])
    assert out['gt_class'].ravel().tolist() == [0, 1, 2, 3]
    assert out['is_crowd'].shape == (4, 1)
    im = out['image'][..., 0]
    # each quadrant shows its image's grey outside the boxes; the 80x40 image fills only
    # 10 of its 30 columns, the rest is the fill value
    assert im[15, 25] == 10 and im[15, 55] == 20 and im[22, 50] == 40
    assert im[30, 5] == 255 and im[30, 15] == 0
    for x1, y1, x2, y2 in out['gt_bbox'].astype(int):
        assert im[y1:y2, x1:x2].min() == 255  # boxes sit on their painted pixels
    assert out['im_id'].tolist() == [10] and out['stitched']


def test_stretch_and_output_size():
    out = stitch_samples(four(), (80, 80), keep_ratio=False)
    # each image stretched to 40x40: sx = 40/w, sy = 40/h
    np.testing.assert_allclose(out['gt_bbox'][:2], [[0, 0, 40 * 20 / 60., 10],
                                                    [40 + 40 * 10 / 60., 4, 40 + 20, 20]],
                               rtol=1e-6)
    np.testing.assert_allclose(out['gt_bbox'][2], [0, 40, 40, 80])
    # the 1x1 box of the 80x40 image is 1 x 0.5 px after stretching: dropped
    assert out['gt_class'].ravel().tolist() == [0, 1, 2, 3]
    np.testing.assert_allclose(out['gt_bbox'][3], [40 + 40 * 40 / 60., 60, 80, 80], rtol=1e-6)


def test_prob_switch_and_batch_size():
    batch = four()
    assert Stitch(prob=0.)(batch) == batch
    np.random.seed(0)
    out = Stitch(prob=1.)(batch)
    assert len(out) == 4 and all(s['stitched'] for s in out)
    # sample i is the mosaic of i, i+1, i+2, i+3 (cyclic) at its own size
    assert out[1]['image'].shape == (40, 60, 3) and out[2]['image'].shape == (80, 40, 3)
    assert out[1]['gt_class'].ravel().tolist()[0] == 1
    assert batch[0]['gt_bbox'].tolist() == [[0, 0, 20, 10]]  # sources untouched
    np.random.seed(1)
    hits = sum(s.get('stitched', False) for _ in range(50) for s in Stitch(prob=0.3)(batch))
    assert 30 < hits < 90  # 200 draws at p=0.3
    with pytest.raises(ValueError, match='prob'):
        Stitch(prob=1.5)


def test_from_yaml_through_batch_compose():
    specs = yaml.safe_load("""
- Stitch: {prob: 1.0, output_size: [64, 64]}
- BatchRandomResize: {target_size: [32], keep_ratio: false, random_size: true}
- NormalizeBox: {}
- PadBox: {num_max_boxes: 8}
- Permute: {}
""")
    assert isinstance(build_transforms(specs)[0], Stitch)
    collate = BatchCompose(specs, mode='train', fields=(('gt_bbox', 'gt_class'), ()))
    b = collate(four())
    assert b['image'].shape == (4, 3, 32, 32)
    assert b['gt_bbox'].shape == (4, 8, 4) and (b['gt_bbox'] <= 1).all()
    assert (b['gt_class'][0, :4] == [0, 1, 2, 3]).all()


def test_switched_on_in_the_train_reader(builtin_dir):
    """Stitch (batch) and AutoAugment (sample) switched on in the project's YOLOv3 reader,
    over the generated built-in dataset, through create_reader."""
    import os

    import ppdet.modeling  # noqa: F401  (YOLOv3's loss declares the train fields)
    from ppdet.data import create_reader

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, 'configs', '_base_', 'yolov3_reader.yml')) as f:
        cfg = yaml.safe_load(f)
    with open(os.path.join(root, 'configs', 'datasets', 'builtin_coco.yml')) as f:
        cfg.update(yaml.safe_load(f))
    ds = cfg['TrainDataset']
    ds['dataset_dir'] = ds['dataset_dir'].replace('dataset/builtin', builtin_dir)
    cfg['architecture'] = 'YOLOv3'
    reader = cfg['TrainReader']
    reader['batch_size'] = 4
    reader['sample_transforms'].insert(1, {'AutoAugment': {'policy': 'v0'}})
    reader['batch_transforms'][0]['BatchRandomResize']['target_size'] = [64]
    reader['batch_transforms'].insert(0, {'Stitch': {'prob': 1.0}})
    np.random.seed(0)
    batch = {k: v.numpy() for k, v in next(iter(create_reader(cfg, 'train', num_workers=0)))
             .items()}
    assert batch['image'].shape == (4, 3, 64, 64)
    real = batch['gt_score'] > 0
    # every stitched image carries the boxes of up to four source images
    assert real.sum() > 4 and (batch['gt_bbox'][real] <= 1).all()
