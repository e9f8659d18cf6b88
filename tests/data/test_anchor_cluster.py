import ast
import os
import subprocess
import sys

import numpy as np
import pytest

from ppdet.core.workspace import load_config
from ppdet.data.anchor_cluster import box_sizes, kmeans_anchors, level_shares, wh_iou
from ppdet.data.synthetic import DEFAULTS, generate_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
R18 = os.path.join(ROOT, 'configs', 'builtin', 'yolov3_r18_builtin.yml')


def test_wh_iou_by_hand():
    iou = wh_iou([[10, 10], [10, 20]], [[10, 10], [20, 20]])
    np.testing.assert_allclose(iou, [[1.0, 0.25], [0.5, 0.5]])


def test_kmeans_finds_three_separated_clusters():
    rng = np.random.default_rng(1)
    true = np.array([[10, 12], [40, 30], [120, 110]], float)
    wh = np.concatenate([c * rng.uniform(0.93, 1.07, size=(200, 2)) for c in true])
    anchors = np.array(kmeans_anchors(wh, n=3, seed=0))
    np.testing.assert_allclose(anchors, true, rtol=0.06)
    shares, mean_iou = level_shares(wh, anchors, [[2], [1], [0]])
    np.testing.assert_allclose(shares, [1 / 3.] * 3, atol=0.01)
    assert mean_iou > 0.85


def test_kmeans_needs_enough_boxes():
    with pytest.raises(ValueError, match='at least 9 boxes'):
        kmeans_anchors(np.ones((4, 2)), n=9)


def test_box_sizes_follow_the_resize():
    rec = {'w': 200, 'h': 100, 'gt_bbox': np.array([[0, 0, 100, 50], [10, 10, 10, 30]], 'f')}
    np.testing.assert_allclose(box_sizes([rec], 100), [[50, 50]])  # degenerate box dropped
    np.testing.assert_allclose(box_sizes([rec], [50, 100]), [[50, 25]])


@pytest.fixture(scope='module')
def builtin_sample(tmp_path_factory):
    """200 training images of the built-in dataset exactly as the pipeline makes them."""
    out = str(tmp_path_factory.mktemp('builtin_sample'))
    generate_dataset(out, num_train=200, num_val=1)
    return out


def test_builtin_anchors_give_every_level_its_share(builtin_sample):
    """The built-in config's anchors fit the built-in boxes: each output level gets a fair
    share (COCO's anchors scaled to 192 gave the stride-8 level none of them)."""
    cfg = load_config(R18, overrides=['TrainDataset.dataset_dir=%s/coco' % builtin_sample])
    from ppdet.data import build_dataset
    ds = build_dataset(cfg, 'TrainDataset')
    wh = box_sizes(ds.roidbs, 192)
    head = cfg['YOLOv3Head']
    shares, mean_iou = level_shares(wh, head['anchors'], head['anchor_masks'])
    assert min(shares) > 0.15, shares
    assert mean_iou > 0.8
    coco = [[4, 5], [6, 10], [11, 8], [10, 20], [20, 15], [19, 38], [37, 29], [50, 63],
            [118, 103]]
    assert level_shares(wh, coco, head['anchor_masks'])[0][2] < 0.05


def test_anchor_cluster_script(builtin_sample):
    out = subprocess.run(
        [sys.executable, 'tools/anchor_cluster.py', '-c', R18, '-n', '9',
         '-o', 'TrainDataset.dataset_dir=%s/coco' % builtin_sample],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert 'from 200 images at input 192x192' in out.stdout
    anchors = ast.literal_eval(out.stdout.strip().splitlines()[-1].split(':', 1)[1])
    assert len(anchors) == 9 and all(len(a) == 2 for a in anchors)
    assert 'config mean best IoU' in out.stdout and 'new    mean best IoU' in out.stdout
    assert DEFAULTS['min_size'] * 192 / 256. * 0.5 < anchors[0][0] < anchors[-1][0]


def _anchor_cluster_main(monkeypatch, *args):
    """tools/anchor_cluster.py's main() in this process (its ValueErrors are the one-line
    ``error:`` run_main prints)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'anchor_cluster_tool', os.path.join(ROOT, 'tools', 'anchor_cluster.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    monkeypatch.setattr(sys, 'argv', ['anchor_cluster.py'] + list(args))
    return tool.main()


@pytest.mark.parametrize('config,uses', [
    ('builtin/retinanet_r18_builtin.yml', 'RetinaNet lays its anchors with AnchorGenerator'),
    ('builtin/fcos_r18_builtin.yml', 'FCOS is anchor-free'),
    ('face_detection/blazeface_builtin.yml', "BlazeFace's FaceHead lays SSD priors")])
def test_configs_without_yolov3_anchors_are_refused(monkeypatch, config, uses):
    """They used to get 'anchors ... for YOLOv3Head.anchors', which they do not read."""
    path = os.path.join(ROOT, 'configs', config)
    with pytest.raises(ValueError) as e:
        _anchor_cluster_main(monkeypatch, '-c', path)
    assert 'clusters YOLOv3Head.anchors, which %s (architecture ' % path in str(e.value)
    assert uses in str(e.value)


@pytest.mark.parametrize('args,message', [
    (['-n', '0'], '-n must be >= 1, got 0'),            # was: argmax of an empty sequence
    (['-n', '3'], r'-n 3 does not fit the config: YOLOv3Head.anchor_masks \[\[6, 7, 8\], '
                  r'\[3, 4, 5\], \[0, 1, 2\]\] index 9 anchors; give -n 9'),  # scored 0%/0%/100%
    (['-s', '-5'], r'-s must be >= 1, got -5'),         # was: need at least 9 boxes, got 0
    (['-i', '0'], '-i must be >= 1, got 0'),            # was: accepted
    (['--seed', '-1'], '--seed must be >= 0, got -1')])
def test_bad_counts_are_refused_before_the_dataset_is_read(monkeypatch, args, message):
    # the dataset directory does not exist: a refusal comes before it is read
    with pytest.raises(ValueError, match=message):
        _anchor_cluster_main(monkeypatch, '-c', R18, '-o', 'TrainDataset.dataset_dir=/nonexistent',
                             *args)


def test_help_gives_each_default_once(monkeypatch, capsys):
    with pytest.raises(SystemExit):
        _anchor_cluster_main(monkeypatch, '--help')
    text = ' '.join(capsys.readouterr().out.split())
    size = text[text.index('-s SIZE, --size SIZE'):text.index('-i ITERS, --iters')]
    assert size.count('(default:') == 1 and '(default: the eval size)' in size
    assert "(default: as many as the config's YOLOv3Head.anchors" in text
