"""GFLOPs and size: python tools/model_stats.py -c CONFIG --input_size 608 416 320 [-o k=v].

A size is S (a square) or HxW, e.g. ``--input_size 800x1333``."""
import argparse
import math

from ppdet.core.workspace import create
from ppdet.utils.cli import ArgsParser, parse_and_load, run_main
from ppdet.utils.model_stats import MODES, model_stats


def input_size(text):
    """'608' -> 608, '800x1333' -> (800, 1333)."""
    parts = str(text).lower().split('x')
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        sizes = []
    if len(sizes) not in (1, 2) or min(sizes) <= 0:
        raise argparse.ArgumentTypeError('input size %r: give S or HxW, e.g. 608 or 800x1333'
                                         % text)
    return sizes[0] if len(sizes) == 1 else tuple(sizes)


def figure(value):
    """A table cell with two decimals, more for a small value so that it keeps three
    significant digits (BlazeFace's 0.0619 GFLOPs, not 0.06)."""
    digits = 2
    if 0 < abs(value) < 1:
        digits = max(digits, 2 - int(math.floor(math.log10(abs(value)))))
    return '%.*f' % (digits, value)


def main():
    parser = ArgsParser('print GFLOPs (conv MACs / 1024^3) and size (MiB) of a model')
    parser.add_argument('--input_size', type=input_size, nargs='+', default=[608],
                        help='S (square) or HxW, e.g. 608 or 800x1333')
    parser.add_argument('--modes', nargs='+', default=['seed', 'all'], choices=MODES,
                        help='seed: conv and depthwise-conv multiply-accumulates only, as the '
                             'seed counted; all: seed plus deformable convs; paddleslim: what '
                             'paddleslim.flops counts on the traced model (conv and fc / matmul '
                             'multiply-adds, a conv bias one more per output; slower: a '
                             'cross-check of seed)')
    args, cfg = parse_and_load(parser)
    model = create(cfg['architecture'], cfg)
    rows = model_stats(model, args.input_size, args.modes)
    head = ['input'] + ['GFLOPs(%s)' % m for m in args.modes] + ['size MiB', 'size MiB (4K blocks)']
    print(args.config)
    print(' | '.join(head))
    for r in rows:
        size = r['input_size']
        cells = ['x'.join(map(str, size)) if isinstance(size, tuple) else str(size)]
        cells += [figure(r['gflops_%s' % m]) for m in args.modes]
        cells += [figure(r['size_mb']), figure(r['size_mb_blocks'])]
        print(' | '.join(cells))


if __name__ == '__main__':
    run_main(main)
