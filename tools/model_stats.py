"""GFLOPs and size: python tools/model_stats.py -c CONFIG [--input_size 608 416 320] [-o k=v].

With ``-o weights=W`` the model is the checkpoint's (a pruned one counts its pruned convs).

A size is S (a square) or HxW, e.g. ``--input_size 800x1333``.  Without ``--input_size`` the
model is counted at its config's evaluation input size, the one training's ``print_flops``,
the pipeline and the pruner use (:func:`ppdet.utils.model_stats.config_input_size`); the
script prints which size it used and where it came from."""
import argparse
import math

from ppdet.core.workspace import create
from ppdet.utils.cli import ArgsParser, parse_and_load, run_main
from ppdet.utils.model_stats import MODES, config_input_size_origin, model_stats


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


def size_text(size):
    return 'x'.join(map(str, size)) if isinstance(size, tuple) else str(size)


def default_input_size(cfg):
    """``(size, origin)``: the config's evaluation input size (S for a square, else (H, W))
    and where it came from; a ValueError that asks for --input_size when it has none."""
    try:
        (h, w), origin = config_input_size_origin(cfg)
    except ValueError as e:
        raise ValueError('%s; or give --input_size S or HxW' % e)
    return (h if h == w else (h, w)), 'the config (%s)' % origin


def figure(value):
    """A table cell with two decimals, more for a small value so that it keeps three
    significant digits (BlazeFace's 0.0619 GFLOPs, not 0.06)."""
    digits = 2
    if 0 < abs(value) < 1:
        digits = max(digits, 2 - int(math.floor(math.log10(abs(value)))))
    return '%.*f' % (digits, value)


def main():
    parser = ArgsParser('print GFLOPs (conv MACs / 1024^3) and size (MiB) of a model')
    parser.add_argument('--input_size', type=input_size, nargs='+', default=None,
                        help='S (square) or HxW, e.g. 608 or 800x1333 (default: the '
                             "config's evaluation input size: EvalReader's Resize, else "
                             "TestReader's, else TestReader.inputs_def.image_shape)")
    parser.add_argument('--modes', nargs='+', default=['seed', 'all'], choices=MODES,
                        help='seed: conv and depthwise-conv multiply-accumulates only, as the '
                             'seed counted; all: seed plus deformable convs; paddleslim: what '
                             'paddleslim.flops counts on the traced model (conv and fc / matmul '
                             'multiply-adds, a conv bias one more per output; slower: a '
                             'cross-check of seed)')
    args, cfg = parse_and_load(parser)
    if args.input_size:
        sizes, origin = args.input_size, '--input_size'
    else:
        size, origin = default_input_size(cfg)
        sizes = [size]
    # -o weights=W (not the config's own default weights, often not trained yet): a pruned
    # checkpoint is counted with its own structure, not the config's
    if any(str(o).startswith('weights=') for o in args.opt or []):
        from ppdet.engine.trainer import build_model
        model, meta = build_model(cfg, cfg['weights'])
        print('model of %s (steps: %s)' % (cfg['weights'], ', '.join(
            s.get('kind', '?') for s in meta.get('steps') or []) or 'none'))
    else:
        model = create(cfg['architecture'], cfg)
    rows = model_stats(model, sizes, args.modes)
    head = ['input'] + ['GFLOPs(%s)' % m for m in args.modes] + ['size MiB', 'size MiB (4K blocks)']
    print(args.config)
    print('input size %s from %s' % (', '.join(size_text(s) for s in sizes), origin))
    print(' | '.join(head))
    for r in rows:
        cells = [size_text(r['input_size'])]
        cells += [figure(r['gflops_%s' % m]) for m in args.modes]
        cells += [figure(r['size_mb']), figure(r['size_mb_blocks'])]
        print(' | '.join(cells))


if __name__ == '__main__':
    run_main(main)
