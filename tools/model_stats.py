"""GFLOPs and size: python tools/model_stats.py -c CONFIG --input_size 608 416 320 [-o k=v]."""
from ppdet.core.workspace import create
from ppdet.utils.cli import ArgsParser, parse_and_load, run_main
from ppdet.utils.model_stats import MODES, model_stats


def main():
    parser = ArgsParser('print GFLOPs (conv MACs / 1024^3) and size (MiB) of a model')
    parser.add_argument('--input_size', type=int, nargs='+', default=[608])
    parser.add_argument('--modes', nargs='+', default=['seed', 'all'], choices=MODES,
                        help='seed: conv2d only, as the seed counted; all: also deformable convs')
    args, cfg = parse_and_load(parser)
    model = create(cfg['architecture'], cfg)
    rows = model_stats(model, args.input_size, args.modes)
    head = ['input'] + ['GFLOPs(%s)' % m for m in args.modes] + ['size MiB', 'size MiB (4K blocks)']
    print(args.config)
    print(' | '.join(head))
    for r in rows:
        cells = [str(r['input_size'])] + ['%.2f' % r['gflops_%s' % m] for m in args.modes] + [
            '%.2f' % r['size_mb'], '%.2f' % r['size_mb_blocks']]
        print(' | '.join(cells))


if __name__ == '__main__':
    run_main(main)
