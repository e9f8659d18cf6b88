"""Bad input through the real scripts: each case gives a one-line error (exit 2) or a
named, counted warning, and never changes a metric silently.

One tiny model is trained once (2 epochs, with an undecodable image in its training
set) and reused; the evaluation with every bad file at once is compared with the
evaluation of a reference set made of the good files alone (the same pixels, saved
losslessly), detection by detection.
"""
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import paddle
import pytest
import yaml

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location('tests_root_conftest',
                                               os.path.join(ROOT, 'tests', 'conftest.py'))
_root_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_root_conftest)

RESUME_ATOL = 0.0  # CPU, one thread, same seed: the resumed weights are bit-identical


def run(script, *args, rc=0):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, script)] + [str(a) for a in args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))
    out = proc.stdout + proc.stderr
    assert proc.returncode == rc, out[-4000:]
    if rc:
        assert 'Traceback' not in out, out[-4000:]
        assert proc.stderr.rstrip().splitlines()[-1].startswith('error: '), out[-4000:]
    return out


def _jpeg_bytes(path):
    with open(path, 'rb') as f:
        return f.read()


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)


def _png_of_decoded(src, dst):
    """The pixels the loader decodes from ``src`` (its own decoder: a truncated file's
    missing rows come out grey, where a bare cv2.imdecode leaves whatever was in memory and
    made this reference differ from run to run), saved losslessly."""
    from ppdet.utils.image_io import decode_rgb
    assert cv2.imwrite(dst, cv2.cvtColor(decode_rgb(src), cv2.COLOR_RGB2BGR))


def _bad_and_reference_sets(base, out):
    """Two COCO eval sets over the same image ids: ``bad`` with every bad input at once,
    ``ref`` with the good files alone.  -> (bad_dir, ref_dir)."""
    with open(os.path.join(base, 'annotations', 'instances_val.json')) as f:
        gt = json.load(f)
    images, anns = gt['images'], gt['annotations']
    bad_dir, ref_dir = os.path.join(out, 'bad'), os.path.join(out, 'ref')
    for d in (bad_dir, ref_dir):
        os.makedirs(os.path.join(d, 'val'))
    bad_imgs, ref_imgs = [], []
    for im in images:  # the originals; the reference holds their decoded pixels as PNG
        shutil.copy(os.path.join(base, 'val', im['file_name']), os.path.join(bad_dir, 'val'))
        png = im['file_name'].replace('.jpg', '.png')
        _png_of_decoded(os.path.join(base, 'val', im['file_name']),
                        os.path.join(ref_dir, 'val', png))
        bad_imgs.append(dict(im))
        ref_imgs.append(dict(im, file_name=png))
    next_id = max(i['id'] for i in images) + 1
    rng = np.random.RandomState(0)
    pic = rng.randint(0, 255, (96, 112, 3)).astype(np.uint8)
    extra = {}
    # truncated JPEG that still decodes (its lower part comes out grey)
    data = cv2.imencode('.jpg', pic)[1].tobytes()
    extra['cut.jpg'] = data[:int(len(data) * 0.6)]
    # JPEG cut to 300 bytes: undecodable
    extra['broken.jpg'] = data[:300]
    extra['alpha.png'] = cv2.imencode('.png', np.dstack([pic, rng.randint(0, 255, pic.shape[:2])
                                                         .astype(np.uint8)]))[1].tobytes()
    extra['gray.png'] = cv2.imencode('.png', pic[..., 0])[1].tobytes()
    extra['one.png'] = cv2.imencode('.png', pic[:1, :1])[1].tobytes()
    sizes = {'one.png': (1, 1)}
    extra_ids = {}
    for name, blob in extra.items():
        _write(os.path.join(bad_dir, 'val', name), blob)
        w, h = sizes.get(name, (112, 96))
        extra_ids[name] = next_id
        bad_imgs.append({'id': next_id, 'file_name': name, 'width': w, 'height': h})
        if name != 'broken.jpg':
            ref_name = name.rsplit('.', 1)[0] + '_ref.png'
            _png_of_decoded(os.path.join(bad_dir, 'val', name),
                            os.path.join(ref_dir, 'val', ref_name))
            ref_imgs.append({'id': next_id, 'file_name': ref_name, 'width': w, 'height': h})
        box = [0, 0, 1, 1] if name == 'one.png' else [20, 15, 40, 30]
        anns.append({'image_id': next_id, 'category_id': 2, 'bbox': box,
                     'area': float(box[2] * box[3]), 'iscrowd': 0})
        next_id += 1
    good_anns = [a for a in anns if a['image_id'] != extra_ids['broken.jpg']]
    # the reference: clean ids 1..N, the dataset's own categories
    ref_anns = [dict(a, id=k + 1) for k, a in enumerate(good_anns)]
    # the bad set: annotation ids from 0, a degenerate (negative-width) box, and a
    # labelme-style '_background_' category 0 in front of the real ones
    bad_anns = [dict(a, id=k) for k, a in enumerate(anns)]
    bad_anns.append({'id': len(bad_anns), 'image_id': images[0]['id'], 'category_id': 1,
                     'bbox': [60, 10, -20, 30], 'area': 600.0, 'iscrowd': 0})
    bad_cats = [{'id': 0, 'name': '_background_'}] + gt['categories']
    for d, imgs, a, cats in ((bad_dir, bad_imgs, bad_anns, bad_cats),
                             (ref_dir, ref_imgs, ref_anns, gt['categories'])):
        os.makedirs(os.path.join(d, 'annotations'))
        with open(os.path.join(d, 'annotations', 'instances_val.json'), 'w') as f:
            json.dump({'images': imgs, 'annotations': a, 'categories': cats}, f)
    return bad_dir, ref_dir


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    from ppdet.data.synthetic import generate_dataset
    tmp = str(tmp_path_factory.mktemp('bad_input'))
    data = os.path.join(tmp, 'data')
    generate_dataset(data, num_train=8, num_val=4, image_size=128, seed=0)
    base = os.path.join(data, 'coco')
    # training set with one undecodable image: training substitutes it, with a warning
    with open(os.path.join(base, 'annotations', 'instances_train.json')) as f:
        train = json.load(f)
    train['images'].append({'id': 999, 'file_name': 'broken_train.jpg', 'width': 128,
                            'height': 128})
    train['annotations'].append({'id': 999, 'image_id': 999, 'category_id': 1,
                                 'bbox': [10, 10, 30, 30], 'area': 900.0, 'iscrowd': 0})
    first = os.path.join(base, 'train', train['images'][0]['file_name'])
    _write(os.path.join(base, 'train', 'broken_train.jpg'), _jpeg_bytes(first)[:300])
    with open(os.path.join(base, 'annotations', 'instances_train_bad.json'), 'w') as f:
        json.dump(train, f)
    cfg = _root_conftest.write_tiny_config(
        tmp, data, epoch=2, seed=3,
        TrainDataset={'dataset_dir': base, 'anno_path': 'annotations/instances_train_bad.json'})
    # every epoch sees every record (9 records, batch 4, drop_last: 2 of 3 batches)
    train_log = run('tools/train.py', '-c', cfg)
    name = os.path.splitext(os.path.basename(cfg))[0]
    out_dir = os.path.join(tmp, 'output', name)
    bad_dir, ref_dir = _bad_and_reference_sets(base, tmp)
    return {'tmp': tmp, 'cfg': cfg, 'base': base, 'out': out_dir, 'train_log': train_log,
            'weights': os.path.join(out_dir, 'model_final'), 'bad': bad_dir, 'ref': ref_dir}


def _eval_set(d):
    return ['EvalDataset.dataset_dir=%s' % d, 'EvalDataset.anno_path=annotations/instances_val.json',
            'EvalDataset.image_dir=val']


def _coco_table(out):
    return [line for line in out.splitlines() if line.lstrip().startswith('Average ')]


def test_interrupted_training_resumes_to_the_same_weights(world):
    # the module's run trained 2 epochs in one go; now "interrupt" after epoch 1 by
    # resuming from its epoch-1 checkpoint in a fresh process, into another directory
    other = os.path.join(world['tmp'], 'resumed')
    out = run('tools/train.py', '-c', world['cfg'], '-r', os.path.join(world['out'], '1'),
              '-o', 'save_dir=%s' % other)
    assert 'resumed from' in out and 'holds no random state' not in out
    a = paddle.load(world['weights'] + '.pdparams')
    b = paddle.load(os.path.join(other, os.path.basename(world['out']), 'model_final.pdparams'))
    keys = [k for k in a if not k.startswith('__')]
    assert keys and sorted(keys) == sorted(k for k in b if not k.startswith('__'))
    worst = max(float(np.abs(np.asarray(a[k]) - np.asarray(b[k])).max()) for k in keys)
    assert worst <= RESUME_ATOL, worst


def test_training_substitutes_an_undecodable_image_with_a_counted_warning(world):
    out = world['train_log']  # the fixture's 2-epoch run on a training set with one bad image
    assert 'broken_train.jpg' in out and 'training on another record instead' in out
    assert '1 undecodable image(s) so far' in out


def test_eval_with_every_bad_file_scores_as_the_good_files_alone(world):
    bad_json = os.path.join(world['tmp'], 'bad_eval')
    ref_json = os.path.join(world['tmp'], 'ref_eval')
    # batch 1: a left-out image changes which images share a batch, and oneDNN may then pick
    # other conv kernels whose last-bit differences flip detections at the score threshold
    # (seen once in a clean-checkout run); one image per batch compares like for like
    bad = run('tools/eval.py', '-c', world['cfg'], '-o', 'weights=%s' % world['weights'],
              'EvalReader.batch_size=1', *_eval_set(world['bad']), '--output_eval', bad_json)
    ref = run('tools/eval.py', '-c', world['cfg'], '-o', 'weights=%s' % world['weights'],
              'EvalReader.batch_size=1', *_eval_set(world['ref']), '--output_eval', ref_json)
    n = len(json.load(open(os.path.join(world['bad'], 'annotations/instances_val.json')))['images'])
    # each case named once, counted
    assert '1 of %d images cannot be decoded and are left out' % n in bad and 'broken.jpg' in bad
    assert 'evaluated %d of %d images in' % (n - 1, n) in bad and '1 skipped: broken.jpg' in bad
    assert 'cut.jpg: JPEG end-of-image marker (FFD9) missing' in bad
    assert '1 of %d images are truncated and used as decoded' % n in bad
    assert "category '_background_' (id 0) has no annotations and is left out" in bad
    assert 'annotation ids include 0' in bad
    assert '1 ground-truth box(es) left out of the metric' in bad
    # ... and the metric is the one of the good files alone, detection for detection
    table = _coco_table(bad)
    assert len(table) == 12 and table == _coco_table(ref)
    dets = [json.load(open(os.path.join(d, 'bbox.json'))) for d in (bad_json, ref_json)]
    key = lambda d: (d['image_id'], d['category_id'], round(d['score'], 6))  # noqa: E731
    assert sorted(dets[0], key=key) == sorted(dets[1], key=key) and dets[0]
    # and the files it wrote are readable by others (umask mode, not 0600)
    mode = os.stat(os.path.join(bad_json, 'bbox.json')).st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def test_only_image_undecodable_is_one_line_error(world):
    only = os.path.join(world['tmp'], 'only_bad')
    _write(os.path.join(only, 'val', 'broken.jpg'),
           _jpeg_bytes(os.path.join(world['bad'], 'val', 'broken.jpg')))
    os.makedirs(os.path.join(only, 'annotations'))
    with open(os.path.join(only, 'annotations', 'instances_val.json'), 'w') as f:
        json.dump({'images': [{'id': 1, 'file_name': 'broken.jpg', 'width': 112, 'height': 96}],
                   'annotations': [{'id': 1, 'image_id': 1, 'category_id': 1,
                                    'bbox': [1, 1, 20, 20]}],
                   'categories': [{'id': c, 'name': 'c%d' % c} for c in range(1, 7)]}, f)
    out = run('tools/eval.py', '-c', world['cfg'], '-o', 'weights=%s' % world['weights'],
              *_eval_set(only), rc=2)
    assert 'error: none of the 1 image(s) under' in out and 'broken.jpg' in out
    out = run('tools/infer.py', '-c', world['cfg'], '-o', 'weights=%s' % world['weights'],
              '--infer_img', os.path.join(only, 'val', 'broken.jpg'), rc=2)
    assert 'error: none of the 1 image(s)' in out and 'broken.jpg' in out
    world['only_bad'] = only


def test_infer_skips_undecodable_names_truncated_and_keeps_the_others(world):
    images = os.path.join(world['bad'], 'val')
    out_dir = os.path.join(world['tmp'], 'infer')
    mixed = run('tools/infer.py', '-c', world['cfg'], '-o', 'weights=%s' % world['weights'],
                '--infer_dir', images, '--output_dir', out_dir, '--draw_threshold', '0.01')
    assert '%s: skipped, cannot be decoded' % os.path.join(images, 'broken.jpg') in mixed
    assert 'cut.jpg: JPEG end-of-image marker (FFD9) missing' in mixed
    good = sorted(f for f in os.listdir(images) if f.startswith('val_'))[0]
    alone = run('tools/infer.py', '-c', world['cfg'], '-o', 'weights=%s' % world['weights'],
                '--infer_img', os.path.join(images, good), '--output_dir', out_dir + '_1',
                '--draw_threshold', '0.01')
    line = [x for x in alone.splitlines() if x.startswith(os.path.join(images, good) + ':')]
    assert len(line) == 1 and line[0].split('->')[0] in mixed
    for name in ('alpha.png', 'gray.png', 'one.png', 'cut.jpg', good):
        assert os.path.isfile(os.path.join(out_dir, name)), name


def test_one_line_errors_for_user_mistakes(world, tmp_path):
    weights = '-o', 'weights=%s' % world['weights']
    out = run('tools/eval.py', '-c', world['cfg'], weights[0], 'weights=%s' % world['out'], rc=2)
    assert 'is a directory' in out and '-o weights=%s' % world['weights'] in out
    evil = tmp_path / 'evil.yml'
    evil.write_text('_BASE_: [%s]\nepoch: !!python/object/apply:os.system ["echo pwned"]\n'
                    % world['cfg'])
    out = run('tools/train.py', '-c', str(evil), rc=2)
    assert 'evil.yml:2' in out and 'safe_load' in out and 'pwned' not in out.replace(
        '"echo pwned"', '')
    out = run('tools/eval.py', '-c', world['cfg'], *weights, 'num_classes=3', rc=2)
    assert 'trained with num_classes=6 but the config has 3' in out  # the checkpoint says first
    out = run('tools/train.py', '-c', world['cfg'], '-o', 'num_classes=3', rc=2)
    assert 'num_classes is 3 but TrainDataset' in out and 'has 6 classes' in out
    assert '-o num_classes=6' in out
    out = run('slim/prune/prune.py', '-c', world['cfg'], '-o', 'num_classes=4',
              'pretrain_weights=%s' % world['weights'], 'save_dir=%s' % (tmp_path / 'p4'),
              '--pruned_params', 'yolo_block.0.0.0.conv.weights', '--pruned_ratios', '0.5',
              rc=2)
    assert 'trained with num_classes=6 but the config has 4' in out  # the checkpoint says first
    empty = tmp_path / 'empty'
    empty.mkdir()
    out = run('tools/infer.py', '-c', world['cfg'], *weights, '--infer_dir', str(empty), rc=2)
    assert 'no images' in out
    # --output_dir the images' own folder: the drawings replaced the photos, exit 0
    photos = tmp_path / 'photos'
    photos.mkdir()
    good = sorted(f for f in os.listdir(os.path.join(world['bad'], 'val'))
                  if f.startswith('val_'))[0]
    shutil.copy(os.path.join(world['bad'], 'val', good), str(photos / good))
    before = (photos / good).read_bytes()
    out = run('tools/infer.py', '-c', world['cfg'], *weights, '--infer_dir', str(photos),
              '--output_dir', str(photos), rc=2)
    assert 'error: --output_dir: %s would overwrite the input image %s; give another ' \
           '--output_dir' % (photos / good, photos / good) in out, out
    assert (photos / good).read_bytes() == before
    teacher = tmp_path / 'teacher.yml'
    teacher.write_text(yaml.safe_dump({'_BASE_': [world['cfg']], 'num_classes': 3}))
    out = run('slim/distillation/distill.py', '-c', world['cfg'], '-t', str(teacher),
              '--teacher_pretrained', world['weights'], rc=2)
    assert 'has num_classes=3 but the student' in out


def test_exported_model_bad_input(world):
    exported = os.path.join(world['tmp'], 'inference')
    run('tools/export_model.py', '-c', world['cfg'], '-o', 'weights=%s' % world['weights'],
        '--output_dir', exported)
    model_dir = os.path.join(exported, os.path.splitext(os.path.basename(world['cfg']))[0])
    images = os.path.join(world['bad'], 'val')
    out = run('deploy/python/infer.py', '--model_dir', model_dir, '--image_dir', images,
              '--output_dir', os.path.join(world['tmp'], 'deploy_out'))
    assert '%s: skipped, cannot decode image' % os.path.join(images, 'broken.jpg') in out
    assert 'cut.jpg: JPEG end-of-image marker (FFD9) missing' in out
    assert sum(1 for x in out.splitlines() if ' detections >= ' in x) == len(os.listdir(images)) - 1
    broken = os.path.join(world['tmp'], 'no_cfg')
    shutil.copytree(model_dir, broken)
    os.remove(os.path.join(broken, 'infer_cfg.yml'))
    out = run('deploy/python/infer.py', '--model_dir', broken, '--image_dir', images, rc=2)
    assert 'missing infer_cfg.yml' in out
    only = world.get('only_bad')
    if only:
        out = run('slim/quantization/post_quant.py', '-c', world['cfg'], '--model_dir',
                  model_dir, '--output_dir', os.path.join(world['tmp'], 'int8'),
                  '--calib_dataset', 'eval', '-o', *_eval_set(only), rc=2)
        assert 'none of the 1 image(s) under' in out and 'broken.jpg' in out
