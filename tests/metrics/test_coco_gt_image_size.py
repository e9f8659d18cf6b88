"""The COCO metric's ground truth for an image whose annotated width/height disagree with
the file (an EXIF-rotated JPEG annotated with its stored size): a box outside the annotated
size but inside the decoded image is kept, as pycocotools keeps it and as the reader now
does.  It was dropped as "outside the image" (an audit: AP 0.90 where pycocotools gives
1.00)."""
import contextlib
import io
import json
import os

import numpy as np
import pytest
from PIL import Image

from ppdet.metrics.coco_utils import evaluate_coco, load_coco_gt

# image 1: stored 60 wide x 40 high with EXIF orientation 6 (decodes 40 x 60), annotated
# with the stored size; image 2: a plain 64 x 48 image, annotated with its size
IMAGES = [{'id': 1, 'file_name': 'rot.jpg', 'width': 60, 'height': 40},
          {'id': 2, 'file_name': 'ok.jpg', 'width': 64, 'height': 48}]
BOXES = [(1, [2, 2, 20, 20]), (1, [5, 42, 20, 15]), (1, [20, 30, 15, 25]),
         (2, [1, 1, 20, 20]), (2, [30, 20, 20, 20]), (2, [5, 30, 10, 10])]


def _dataset(tmp_path, boxes=BOXES):
    images = tmp_path / 'images'
    images.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new('RGB', (60, 40), (90, 120, 150)).save(str(images / 'rot.jpg'), exif=exif.tobytes())
    Image.new('RGB', (64, 48), (10, 200, 90)).save(str(images / 'ok.jpg'))
    anns = [{'id': k + 1, 'image_id': i, 'category_id': 1, 'bbox': b, 'area': b[2] * b[3],
             'iscrowd': 0} for k, (i, b) in enumerate(boxes)]
    path = tmp_path / 'gt.json'
    path.write_text(json.dumps({'images': IMAGES, 'annotations': anns,
                                'categories': [{'id': 1, 'name': 'thing'}]}))
    return str(path), str(images)


def _perfect(boxes=BOXES):
    return [{'image_id': i, 'category_id': 1, 'bbox': b, 'score': 0.9} for i, b in boxes]


def _pycocotools_ap(anno, dets):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(anno)
        ev = COCOeval(gt, gt.loadRes(dets), 'bbox')
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats[0]


def test_a_box_inside_the_decoded_image_is_scored_as_pycocotools_scores_it(tmp_path):
    anno, image_dir = _dataset(tmp_path)
    assert _pycocotools_ap(anno, _perfect()) == pytest.approx(1.0)
    gt = load_coco_gt(anno, image_dir)
    assert sorted(gt.getAnnIds()) == [1, 2, 3, 4, 5, 6]
    assert gt.loadAnns(2)[0]['bbox'] == [5, 42, 20, 15]     # as the json has it, not clipped
    stats, _ = evaluate_coco(gt, _perfect())
    assert stats[0] == pytest.approx(1.0)


def test_the_metric_built_from_the_dataset_knows_where_the_images_are(tmp_path):
    from ppdet.data import COCODataSet
    from ppdet.metrics.metrics import COCOMetric
    anno, _ = _dataset(tmp_path)
    ds = COCODataSet(str(tmp_path), 'images', 'gt.json', allow_empty=True)
    metric = COCOMetric.from_dataset({}, ds)
    assert metric.coco_gt.loadAnns(2)[0]['bbox'] == [5, 42, 20, 15]
    for im_id in (1, 2):
        rows = np.array([[0, 0.9, b[0], b[1], b[0] + b[2], b[1] + b[3]]
                         for i, b in BOXES if i == im_id], np.float32)
        metric.update({'im_id': np.array([[im_id]])},
                      {'bbox': rows, 'bbox_num': np.array([len(rows)])})
    with contextlib.redirect_stdout(io.StringIO()):
        metric.accumulate()
    assert metric.values()[0] == pytest.approx(_pycocotools_ap(anno, _perfect()))   # 1.0


def test_a_box_outside_the_decoded_image_is_still_left_out(tmp_path, ppdet_log, monkeypatch):
    """Only the size changes: a box outside the decoded image is left out as before, and
    an image is looked at only when one of its boxes lies past its annotated size."""
    import ppdet.data.source.dataset as dataset_mod
    boxes = BOXES + [(1, [50, 5, 5, 5]), (2, [70, 5, 5, 5])]   # right of 40 / of 64
    anno, image_dir = _dataset(tmp_path, boxes)
    read = []
    real = dataset_mod.decoded_size
    monkeypatch.setattr(dataset_mod, 'decoded_size', lambda p: read.append(p) or real(p))
    gt = load_coco_gt(anno, image_dir)
    assert sorted(os.path.basename(p) for p in read) == ['ok.jpg', 'rot.jpg']
    assert [a['bbox'] for a in gt.dataset['annotations']] == [b for _, b in BOXES]
    assert '2 ground-truth box(es) left out of the metric' in ppdet_log.text
    # without the images' directory: the annotated size, as before (60 x 40: the second
    # box is left out, the one right of 40 kept)
    read.clear()
    gt = load_coco_gt(anno)
    assert not read
    assert [a['bbox'] for a in gt.dataset['annotations']] == [
        b for k, (_, b) in enumerate(boxes) if k not in (1, 7)]


def test_json_eval_reads_the_image_sizes_too(tmp_path):
    """tools/eval.py --json_eval scores a detections file with the eval set's images at
    hand, as the metric of a run does (it judged the ground truth by the json's sizes)."""
    import subprocess
    import sys
    _dataset(tmp_path)
    dets = tmp_path / 'dets.json'
    dets.write_text(json.dumps(_perfect()))
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run(
        [sys.executable, os.path.join(root, 'tools', 'eval.py'),
         '-c', os.path.join(root, 'configs', 'builtin', 'yolov3_r18_builtin.yml'),
         '--json_eval', str(dets), '-o', 'num_classes=1',
         'EvalDataset.dataset_dir=%s' % tmp_path, 'EvalDataset.image_dir=images',
         'EvalDataset.anno_path=gt.json'], cwd=root, capture_output=True, text=True,
        timeout=120, env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'COCO bbox: AP=1.0000' in proc.stdout, proc.stdout[-2000:]
