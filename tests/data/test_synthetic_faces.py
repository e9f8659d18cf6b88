"""The built-in face set: bytes, the WIDER FACE text and .mat files, subsets, attributes.

The gt file is read back with a parser written here (not the project's WIDER reader), so
the test checks the official format itself."""
import json
import os

import cv2
import numpy as np
import pytest
import scipy.io

from ppdet.data.synthetic_faces import (EVENTS, SUBSETS, generate_face_dataset, render_record,
                                        subset_of)
from ppdet.data.synthetic_faces import scenes
from ppdet.data.synthetic_faces.faces import face_sources
from ppdet.data.synthetic_faces.wider_files import gt_text, mat_contents

SMALL = dict(num_train=5, num_val=12, min_side=160, max_side=256, seed=1, max_faces=30)
KEYS = ('blur', 'expression', 'illumination', 'invalid', 'occlusion', 'pose')


@pytest.fixture(scope='module')
def faces_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('faces'))
    generate_face_dataset(out, **SMALL)
    return out


def _files(root):
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            with open(os.path.join(d, n), 'rb') as f:
                out[os.path.relpath(os.path.join(d, n), root)] = f.read()
    return out


def parse_gt(path):
    """WIDER FACE bbx_gt.txt -> [(path, [[x, y, w, h, blur, expr, illum, invalid, occ, pose]])]."""
    with open(path) as f:
        lines = f.read().split('\n')
    assert lines[-1] == ''
    lines, out, i = lines[:-1], [], 0
    while i < len(lines):
        name, count = lines[i], int(lines[i + 1])
        assert name.endswith('.jpg') and '/' in name
        rows = [line for line in lines[i + 2:i + 2 + max(count, 1)]]
        assert all(r.endswith(' ') for r in rows)  # the official files end each row in a space
        rows = [[int(v) for v in r.split()] for r in rows]
        assert all(len(r) == 10 for r in rows)
        if count == 0:
            assert rows == [[0] * 10]
            rows = []
        out.append((name, rows))
        i += 2 + max(count, 1)
    return out


def _params():
    from ppdet.data.synthetic_faces import _params as params
    return params(jpeg_quality=90, **SMALL)


def test_deterministic_bytes(faces_dir, tmp_path):
    again = str(tmp_path / 'again')
    generate_face_dataset(again, **SMALL)
    a, b = _files(faces_dir), _files(again)
    ma, mb = json.loads(a.pop('manifest.json')), json.loads(b.pop('manifest.json'))
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)
    ma.pop('generation_seconds'), mb.pop('generation_seconds')
    assert ma == mb
    other = str(tmp_path / 'other')
    generate_face_dataset(other, **dict(SMALL, seed=2))
    gt = 'wider_face_split/wider_face_val_bbx_gt.txt'
    assert _files(other)[gt] != a[gt]   # another seed, other scenes


def test_layout_and_gt_parse_back_to_drawn_faces(faces_dir):
    params = _params()
    for split in ('train', 'val'):
        parsed = parse_gt(os.path.join(faces_dir, 'wider_face_split',
                                       'wider_face_%s_bbx_gt.txt' % split))
        assert len(parsed) == SMALL['num_%s' % split]
        drawn = {}
        for idx in range(SMALL['num_%s' % split]):
            _, rec = render_record(params, split, idx)
            drawn[rec['path']] = rec
        assert sorted(p for p, _ in parsed) == sorted(drawn)
        event_order = [EVENTS.index(p.split('/')[0].split('--')[1]) for p, _ in parsed]
        assert event_order == sorted(event_order)  # grouped by event, as the official files
        for path, rows in parsed:
            event, name = path.split('/')
            assert name.startswith(event.replace('--', '_', 1))
            rec = drawn[path]
            assert rows == [f['bbox'] + [f[k] for k in KEYS] for f in rec['faces']]
            im = cv2.imread(os.path.join(faces_dir, 'WIDER_%s' % split, 'images', path))
            h, w = im.shape[:2]
            assert (w, h) == (rec['width'], rec['height'])
            assert SMALL['min_side'] <= min(w, h) and max(w, h) <= SMALL['max_side']
            for x, y, bw, bh in (r[:4] for r in rows):
                assert bw > 0 and bh > 0 and x >= 0 and y >= 0 and x + bw <= w and y + bh <= h


def test_face_free_image_format():
    rec = {'path': '0--Portrait/0_Portrait_val_00001.jpg', 'faces': [],
           'event_dir': '0--Portrait', 'name': '0_Portrait_val_00001'}
    assert gt_text([rec]) == '0--Portrait/0_Portrait_val_00001.jpg\n0\n0 0 0 0 0 0 0 0 0 0 \n'
    mat = mat_contents([rec], 'hard')
    assert mat['face_bbx_list'][0, 0][0, 0].shape == (0, 4)
    assert mat['gt_list'][0, 0][0, 0].shape == (0, 1)


def _load(faces_dir, name):
    return scipy.io.loadmat(os.path.join(faces_dir, 'eval_tools', 'ground_truth', name))


def test_mat_files_have_the_official_nesting(faces_dir):
    parsed = parse_gt(os.path.join(faces_dir, 'wider_face_split', 'wider_face_val_bbx_gt.txt'))
    face = _load(faces_dir, 'wider_face_val.mat')
    events = [p.split('/')[0] for p, _ in parsed]
    events = sorted(set(events), key=events.index)
    for name in ['wider_face_val.mat'] + ['wider_%s_val.mat' % s for s in SUBSETS]:
        mat = _load(faces_dir, name)
        want = {'event_list', 'file_list', 'face_bbx_list'} | \
            ({'gt_list'} if name != 'wider_face_val.mat' else
             {k + '_label_list' for k in KEYS})
        assert want <= set(mat), name
        for key in want:
            assert mat[key].dtype == object and mat[key].shape == (len(events), 1), key
        assert [str(mat['event_list'][i][0][0]) for i in range(len(events))] == events
    rows = iter(parsed)
    for i in range(len(events)):   # indexed as the official Python evaluation does
        files, boxes = face['file_list'][i][0], face['face_bbx_list'][i][0]
        assert files.dtype == object and files.shape[1] == 1 and boxes.shape == files.shape
        for j in range(len(files)):
            path, faces = next(rows)
            assert path == '%s/%s.jpg' % (events[i], files[j][0][0])
            got = boxes[j][0]
            assert got.dtype == np.float64 and got.shape == (len(faces), 4)
            np.testing.assert_array_equal(got, np.array([f[:4] for f in faces]).reshape(-1, 4))
            for k, key in enumerate(KEYS):
                labels = face[key + '_label_list'][i][0][j][0].ravel()
                np.testing.assert_array_equal(labels, [f[4 + k] for f in faces])


def test_subsets_nest_and_hard_is_every_valid_face(faces_dir):
    parsed = parse_gt(os.path.join(faces_dir, 'wider_face_split', 'wider_face_val_bbx_gt.txt'))
    lists = {s: _load(faces_dir, 'wider_%s_val.mat' % s)['gt_list'] for s in SUBSETS}
    counts = dict.fromkeys(SUBSETS, 0)
    rows = iter(parsed)
    for i in range(lists['hard'].shape[0]):
        for j in range(len(lists['hard'][i][0])):
            _, faces = next(rows)
            keep = {}
            for s in SUBSETS:
                idx = lists[s][i][0][j][0]
                assert np.issubdtype(idx.dtype, np.integer) and idx.shape[-1:] in ((1,), (0,))
                ignore = np.zeros(len(faces))
                ignore[idx.ravel() - 1] = 1   # how the official evaluation uses it
                keep[s] = set(idx.ravel().tolist())
                counts[s] += len(keep[s])
            assert keep['easy'] <= keep['medium'] <= keep['hard']
            assert keep['hard'] == {n + 1 for n, f in enumerate(faces) if f[7] == 0}
    assert 0 < counts['easy'] < counts['medium'] < counts['hard']


def test_attributes_follow_what_was_drawn():
    params = _params()
    seen = dict.fromkeys(('invalid', 'occluded', 'blurred', 'extreme_light', 'atypical'), 0)
    for idx in range(SMALL['num_val']):
        _, rec = render_record(params, 'val', idx)
        for f in rec['faces']:
            too_small = f['bbox'][3] < scenes.MIN_VALID_HEIGHT
            too_hidden = f['occluded_fraction'] > scenes.MAX_VALID_OCCLUSION
            lo, hi = scenes.VALID_GAIN
            unlit = not lo <= f['light_gain'] <= hi
            assert f['invalid'] == int(too_small or too_hidden or unlit)
            assert f['illumination'] == int(not 0.5 <= f['light_gain'] <= 1.6)
            occ = f['occluded_fraction']
            assert f['occlusion'] == (0 if occ <= 0.01 else 1 if occ <= 0.3 else 2)
            rel = f['blur_sigma_over_width']
            assert f['blur'] == (0 if rel < 0.025 else 1 if rel < 0.06 else 2)
            assert f['expression'] == 0
            assert (not f['invalid']) == subset_of(f, 'hard')
            seen['invalid'] += f['invalid']
            seen['occluded'] += f['occlusion'] > 0
            seen['blurred'] += f['blur'] > 0
            seen['extreme_light'] += f['illumination']
            seen['atypical'] += f['pose']
    assert all(v > 0 for v in seen.values()), seen


def test_covered_face_is_invalid_and_clear_face_is_easy():
    """Occlusion is measured: a face pasted over by an opaque patch is fully occluded."""
    rng = np.random.default_rng(0)
    im = np.full((200, 200, 3), 128, np.float32)
    faces = []
    face = None
    while face is None or face['source'] != face_sources()[0].name:  # the astronaut, upright
        rng = np.random.default_rng(rng.integers(1 << 30))
        face = scenes._draw_face(rng, im, 'Portrait', 60, 100, 100, faces)
    x1, y1, x2, y2 = face['box']
    clear = scenes._labels(face, 0., 1.)
    assert clear['occluded_fraction'] == 0 and clear['occlusion'] == 0 and not clear['invalid']
    faces.append(face)
    scenes._paste(im, np.zeros((y2 - y1, (x2 - x1) // 2, 3), np.float32),
                  np.ones((y2 - y1, (x2 - x1) // 2), np.float32), x1, y1, faces)
    half = scenes._labels(face, 0., 1.)
    assert 0.3 < half['occluded_fraction'] < 0.7 and half['occlusion'] == 2
    assert not half['invalid']
    scenes._paste(im, np.zeros((y2 - y1, x2 - x1, 3), np.float32),
                  np.ones((y2 - y1, x2 - x1), np.float32), x1, y1, faces)
    hidden = scenes._labels(face, 0., 1.)
    assert hidden['occluded_fraction'] == 1 and hidden['invalid'] == 1
    assert not subset_of(hidden, 'hard')


def test_rerun_is_skipped_and_changed_params_regenerate(tmp_path, ppdet_log):
    out = str(tmp_path / 'ds')
    args = dict(SMALL, num_train=3, num_val=2)
    first = generate_face_dataset(out, **args)
    jpg = sorted(p for p in _files(out) if p.startswith('WIDER_train'))[0]
    mtime = os.path.getmtime(os.path.join(out, jpg))
    assert generate_face_dataset(out, **args) == first
    assert 'already in' in ppdet_log.text
    assert os.path.getmtime(os.path.join(out, jpg)) == mtime
    generate_face_dataset(out, **dict(args, num_train=1))    # fewer: stale images removed
    train = [p for p in _files(out) if p.startswith('WIDER_train')]
    assert len(train) == 1


@pytest.mark.parametrize('bad, message', [
    (dict(min_side=400, max_side=300), 'min_side'),
    (dict(num_val=0), 'num_val'),
    (dict(max_faces=0), 'max_faces'),
])
def test_bad_arguments_name_the_value(tmp_path, bad, message):
    with pytest.raises(ValueError, match=message):
        generate_face_dataset(str(tmp_path), **dict(SMALL, **bad))


def _real_wider_tree(root):
    """What a user's WIDER FACE download holds (a ground-truth file, an image)."""
    gt = root / 'wider_face_split' / 'wider_face_train_bbx_gt.txt'
    img = root / 'WIDER_train' / 'images' / '1--Group' / '1_Group_Group_1_12.jpg'
    for p in (gt, img):
        p.parent.mkdir(parents=True, exist_ok=True)
    gt.write_text('1--Group/1_Group_Group_1_12.jpg\n1\n1 2 3 4 0 0 0 0 0 0 \n')
    img.write_bytes(b'real')
    return gt, img


def test_a_real_wider_face_tree_is_refused(tmp_path):
    """The generator used to overwrite wider_face_train_bbx_gt.txt and delete the real
    images of the events it writes; force overwrites its own names only."""
    gt, img = _real_wider_tree(tmp_path)
    args = dict(SMALL, num_train=2, num_val=1, max_faces=3)
    with pytest.raises(ValueError, match='not empty and holds no built-in face set.*--force'):
        generate_face_dataset(str(tmp_path), **args)
    assert gt.read_text().startswith('1--Group/1_Group_Group_1_12.jpg') and img.exists()
    assert not (tmp_path / 'WIDER_val').exists()
    generate_face_dataset(str(tmp_path), force=True, **args)
    assert 'Group_1_12' not in gt.read_text() and img.read_bytes() == b'real'


def test_an_interrupted_face_set_is_recognised_and_regenerated(tmp_path, ppdet_log,
                                                                monkeypatch):
    import ppdet.data.synthetic_faces as faces
    out = str(tmp_path / 'ds')
    args = dict(SMALL, num_train=3, num_val=1, max_faces=3)
    generate_face_dataset(out, **dict(args, num_train=1))
    render = faces.render_record

    def interrupted(params, split, idx):
        if idx == 2:
            raise KeyboardInterrupt
        return render(params, split, idx)

    monkeypatch.setattr(faces, 'render_record', interrupted)
    with pytest.raises(KeyboardInterrupt):
        generate_face_dataset(out, **args)
    monkeypatch.setattr(faces, 'render_record', render)
    assert [m for m in ppdet_log.messages if m.startswith('regenerating')] == [
        'regenerating %s: it holds a built-in face set made with other parameters: '
        'num_train 1 -> 3; its files are replaced' % out]
    assert not os.path.exists(os.path.join(out, 'manifest.json'))
    m = generate_face_dataset(out, **args)
    assert any('unfinished built-in face set' in x for x in ppdet_log.messages)
    assert m['statistics']['train']['images'] == 3
    assert sorted(os.listdir(out)) == ['WIDER_train', 'WIDER_val', 'eval_tools', 'manifest.json',
                                       'wider_face_split']
