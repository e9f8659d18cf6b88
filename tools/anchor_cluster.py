"""Anchors for a dataset: python tools/anchor_cluster.py -c CONFIG [-n 9] [-s 192] [-o k=v].

Clusters the box sizes of the config's TrainDataset (resized to the input size) with k-means
on 1 - IoU, prints the anchors as a YAML line for ``YOLOv3Head.anchors`` and, for the
config's own anchors and the new ones, the share of boxes each output level gets."""
from ppdet.utils.cli import ArgsParser, parse_and_load, run_main


def main():
    parser = ArgsParser('cluster anchor sizes for a YOLOv3 config from its training boxes')
    parser.add_argument('-n', '--n', type=int, default=9, help='number of anchors')
    parser.add_argument('-s', '--size', type=int, default=None,
                        help='input size the boxes are resized to (default: the eval size)')
    parser.add_argument('-i', '--iters', type=int, default=300, help='k-means iterations')
    parser.add_argument('--seed', type=int, default=0)
    args, cfg = parse_and_load(parser)
    from ppdet.data import build_dataset
    from ppdet.data.anchor_cluster import box_sizes, kmeans_anchors, level_shares
    from ppdet.utils.model_stats import config_input_size
    size = [args.size, args.size] if args.size else config_input_size(cfg)
    dataset = build_dataset(cfg, 'TrainDataset')  # parsed on construction
    wh = box_sizes(dataset.roidbs, size)
    anchors = kmeans_anchors(wh, args.n, args.iters, args.seed)
    head = cfg.get('YOLOv3Head') or {}
    masks = head.get('anchor_masks') or [list(range(args.n))]
    print('%d boxes from %d images at input %s' % (len(wh), len(dataset.roidbs),
                                                   'x'.join(str(s) for s in size)))
    rows = [('new', anchors)]
    if head.get('anchors') and len(head['anchors']) == args.n:
        rows.insert(0, ('config', head['anchors']))
    for name, a in rows:
        shares, mean_iou = level_shares(wh, a, masks)
        print('%-6s mean best IoU %.3f; boxes per level (anchor_masks %s): %s' % (
            name, mean_iou, masks, ' / '.join('%.1f%%' % (100 * s) for s in shares)))
    print('anchors: %s' % anchors)


if __name__ == '__main__':
    run_main(main)
