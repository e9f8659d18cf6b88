"""Compare two models' detections saved by arm_benchmark.py --save_detections: an int8 .nb
against its fp32 parent, both run on the device on the same input (--image_npy).

    python deploy/lite/compare_detections.py int8.npz fp32.npz [--score_threshold 0.3]

The second file is the reference.  Detections are matched by class and IoU >= 0.5, the same
rule as the project's int8 agreement everywhere else (ppdet.deploy.compare); the result is
the share of the larger count that matched, per image and over all.
"""
import argparse
import os
import zipfile

WRITER = ('arm_benchmark.py --save_detections writes (on the board; for an x86 .nb: '
          'arm_benchmark.py --any_machine in the Lite environment)')


def load_detections(path, what, np):
    """``path``'s detections (split per image), or a ValueError naming the argument
    (``what``), the file and what writes such a file."""
    from ppdet.deploy.compare import split_by_image
    if not os.path.isfile(path):
        raise ValueError('%s: %s %s; give the .npz that %s' % (
            what, path, 'is a directory' if os.path.isdir(path) else 'not found', WRITER))
    try:
        f = np.load(path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        why = 'not a numpy file' if 'pickled' in str(e) else str(e)
        raise ValueError('%s: %s is not an .npz of detections (%s); give the .npz that %s'
                         % (what, path, why, WRITER))
    if not isinstance(f, np.lib.npyio.NpzFile):
        raise ValueError('%s: %s holds one array, not an .npz of detections; give the .npz '
                         'that %s' % (what, path, WRITER))
    with f:
        missing = [k for k in ('bbox', 'bbox_num') if k not in f.files]
        if missing:
            raise ValueError('%s: %s has no %s (it has: %s); give the .npz that %s' % (
                what, path, ' and '.join(repr(k) for k in missing),
                ', '.join(f.files) or 'nothing', WRITER))
        bbox, num = f['bbox'], f['bbox_num']
    if bbox.ndim != 2 or bbox.shape[1] != 6 or num.ndim != 1:
        raise ValueError('%s: %s does not hold [N, 6] detections (class, score, x1, y1, x2, y2) '
                         'and their count per image: its bbox is %s %s, its bbox_num %s %s (raw '
                         'outputs, e.g. the boxes and scores of a model exported with '
                         '--exclude_nms: no NMS); give the .npz that %s' % (
                             what, path, bbox.dtype, list(bbox.shape), num.dtype,
                             list(num.shape), WRITER))
    return split_by_image(bbox, num)


def main(argv=None):
    import numpy as np
    from ppdet.deploy.compare import match_detections
    from ppdet.utils.cli import check_range
    p = argparse.ArgumentParser(description='detections of two models matched (the second is '
                                            'the reference)',
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('detections', help='.npz of arm_benchmark.py --save_detections')
    p.add_argument('reference', help='.npz of the reference model on the same input')
    p.add_argument('--score_threshold', type=float, default=0.3,
                   help='compare the detections scoring at least this (0: all)')
    args = p.parse_args(argv)
    check_range('--score_threshold', args.score_threshold, 0.0, 1.0, 'a detection score')
    runs = [load_detections(args.detections, 'detections', np),
            load_detections(args.reference, 'reference', np)]
    if len(runs[0]) != len(runs[1]):
        raise ValueError('%s has %d images, %s %d: not the same input'
                         % (args.detections, len(runs[0]), args.reference, len(runs[1])))
    matched = total = 0
    for i, (got, ref) in enumerate(zip(*runs)):
        m = match_detections(ref, got, score_thresh=args.score_threshold or None)
        n = max(m['n_a'], m['n_b'])
        matched += m['matched']
        total += n
        if not n:
            print('image %d: nothing compared (no detection scoring >= %g in either)'
                  % (i, args.score_threshold))
            continue
        print('image %d: %d of %d matched (%d in %s, %d in the reference), mean IoU %s, '
              'largest score difference %.4f' % (
                  i, m['matched'], n, m['n_b'], args.detections, m['n_a'],
                  '%.3f' % m['mean_iou'] if m['matched'] else '- (no match)',
                  m['max_score_diff']))
    if not total:
        raise ValueError('nothing compared: neither %s nor %s has a detection scoring >= %g; '
                         'lower --score_threshold, or run both models on an image with objects '
                         'in it' % (args.detections, args.reference, args.score_threshold))
    print('agreement: %d of %d detections (%.1f%%) scoring >= %g'
          % (matched, total, 100.0 * matched / total, args.score_threshold))
    return matched, total


if __name__ == '__main__':
    from ppdet.utils.cli import run_main
    run_main(main)
