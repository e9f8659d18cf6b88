"""Compare two models' detections saved by arm_benchmark.py --save_detections: an int8 .nb
against its fp32 parent, both run on the device on the same input (--image_npy).

    python deploy/lite/compare_detections.py int8.npz fp32.npz [--score_threshold 0.3]

The second file is the reference.  Detections are matched by class and IoU >= 0.5, the same
rule as the project's int8 agreement everywhere else (ppdet.deploy.compare); the result is
the share of the larger count that matched, per image and over all.
"""
import argparse


def main(argv=None):
    import numpy as np
    from ppdet.deploy.compare import match_detections, split_by_image
    p = argparse.ArgumentParser(description='detections of two models matched (the second is '
                                            'the reference)',
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('detections', help='.npz of arm_benchmark.py --save_detections')
    p.add_argument('reference', help='.npz of the reference model on the same input')
    p.add_argument('--score_threshold', type=float, default=0.3,
                   help='compare the detections scoring at least this (0: all)')
    args = p.parse_args(argv)
    runs = []
    for path in (args.detections, args.reference):
        with np.load(path) as f:
            runs.append(split_by_image(f['bbox'], f['bbox_num']))
    if len(runs[0]) != len(runs[1]):
        raise ValueError('%s has %d images, %s %d: not the same input'
                         % (args.detections, len(runs[0]), args.reference, len(runs[1])))
    matched = total = 0
    for i, (got, ref) in enumerate(zip(*runs)):
        m = match_detections(ref, got, score_thresh=args.score_threshold or None)
        matched += m['matched']
        total += max(m['n_a'], m['n_b'])
        print('image %d: %d of %d matched (%d in %s, %d in the reference), mean IoU %.3f, '
              'largest score difference %.4f' % (i, m['matched'], max(m['n_a'], m['n_b']),
                                                 m['n_b'], args.detections, m['n_a'],
                                                 m['mean_iou'], m['max_score_diff']))
    print('agreement: %d of %d detections (%.1f%%) scoring >= %g'
          % (matched, total, 100.0 * matched / total if total else 100.0,
             args.score_threshold))
    return matched, total


if __name__ == '__main__':
    from ppdet.utils.cli import run_main
    run_main(main)
