"""Anchors for a dataset: python tools/anchor_cluster.py -c CONFIG [-n 9] [-s 192] [-o k=v].

Clusters the box sizes of the config's TrainDataset (resized to the input size) with k-means
on 1 - IoU, prints the anchors as a YAML line for ``YOLOv3Head.anchors`` and, for the
config's own anchors and the new ones, the share of boxes each output level gets.  Only a
YOLOv3 config has such anchors; the other families are refused with what they use."""
import argparse

from ppdet.utils.cli import ArgsParser, check_range, parse_and_load, run_main

# what the other architectures place boxes with, instead of YOLOv3Head.anchors
NOT_CLUSTERED = {
    'RetinaNet': "RetinaNet lays its anchors with AnchorGenerator (octave_base_scale, "
                 "scales_per_octave, aspect_ratios per FPN stride), not a list of sizes",
    'FCOS': 'FCOS is anchor-free (points on each FPN level): it has no anchors to cluster',
    'BlazeFace': "BlazeFace's FaceHead lays SSD priors (FaceHead.min_sizes per level), not "
                 "YOLOv3 anchors",
    'MediaPipeBlazeFace': "MediaPipeBlazeFace uses MediaPipe's fixed SSD anchors "
                          "(MediaPipeBlazeFace.strides, min_scale, max_scale) that its "
                          "released weights were trained with",
}


def yolo_head(cfg):
    """The config's YOLOv3Head (built without layers: its anchors and anchor_masks, the
    defaults filled in and checked), or a ValueError for a config without one."""
    from ppdet.core.workspace import create
    arch = cfg.get('architecture')
    name = (cfg.get(arch) or {}).get('yolo_head', 'YOLOv3Head') if arch == 'YOLOv3' else None
    if name is None:
        raise ValueError('anchor_cluster.py clusters YOLOv3Head.anchors, which %s (architecture '
                         '%s) does not have: %s' % (
                             cfg.get('_config_path'), arch, NOT_CLUSTERED.get(
                                 arch, 'it has no YOLOv3 anchors to replace')))
    return create(name, cfg)


def anchor_count(requested, head):
    """-n: the number of anchors the head's anchor_masks index (its ``anchors``)."""
    n = len(head.anchors)
    if requested is not None and requested != n:
        raise ValueError('-n %d does not fit the config: YOLOv3Head.anchor_masks %s index %d '
                         'anchors; give -n %d (or leave -n out), or change anchor_masks and '
                         'anchors in the config first' % (requested, head.anchor_masks, n, n))
    return n


def main():
    parser = ArgsParser('cluster anchor sizes for a YOLOv3 config from its training boxes')
    parser.add_argument('-n', '--n', type=int, default=argparse.SUPPRESS,
                        help='number of anchors (default: as many as the config\'s '
                             'YOLOv3Head.anchors, which its anchor_masks index)')
    parser.add_argument('-s', '--size', type=int, default=argparse.SUPPRESS,
                        help='input size the boxes are resized to (default: the eval size)')
    parser.add_argument('-i', '--iters', type=int, default=300,
                        help='k-means iterations (at most; it stops when nothing moves)')
    parser.add_argument('--seed', type=int, default=0,
                        help='random seed of the initial centres')
    args, cfg = parse_and_load(parser)
    check_range('-s', getattr(args, 'size', None), 1, hint='input pixels')
    check_range('-n', getattr(args, 'n', None), 1)
    check_range('-i', args.iters, 1)
    check_range('--seed', args.seed, 0)
    head = yolo_head(cfg)
    n = anchor_count(getattr(args, 'n', None), head)
    from ppdet.data import build_dataset
    from ppdet.data.anchor_cluster import box_sizes, kmeans_anchors, level_shares
    from ppdet.utils.model_stats import config_input_size
    size = [args.size] * 2 if getattr(args, 'size', None) else config_input_size(cfg)
    dataset = build_dataset(cfg, 'TrainDataset')  # parsed on construction
    wh = box_sizes(dataset.roidbs, size)
    anchors = kmeans_anchors(wh, n, args.iters, args.seed)
    masks = head.anchor_masks
    print('%d boxes from %d images at input %s' % (len(wh), len(dataset.roidbs),
                                                   'x'.join(str(s) for s in size)))
    for name, a in (('config', head.anchors), ('new', anchors)):
        shares, mean_iou = level_shares(wh, a, masks)
        print('%-6s mean best IoU %.3f; boxes per level (anchor_masks %s): %s' % (
            name, mean_iou, masks, ' / '.join('%.1f%%' % (100 * s) for s in shares)))
    print('anchors: %s' % anchors)


if __name__ == '__main__':
    run_main(main)
