"""Pruning sensitivity of each parameter (resumable):

python slim/sensitive/sensitive.py -c CONFIG -o weights=W -p yolo_block.0.0.0.conv.weights,... \
    -r 0.1,0.2,...,0.9 -s sensitivities.json --eval_images 50 --max_loss 0.3
"""
import os
import sys

from ppdet.slim.presets import add_criterion_arg
from ppdet.utils.cli import ArgsParser, parse_and_load, run_main


def _floats(text):
    try:
        return [float(x) for x in text.split(',') if x.strip()]
    except ValueError:
        raise ValueError('-r/--pruned_ratios %r: give comma-separated numbers in (0, 1), e.g. '
                         '0.1,0.2,0.3' % text)


def _saved(path):
    """What an interrupted run left in its sensitivities file, in words."""
    from ppdet.slim.sensitivity import load_sensitivities
    if not os.path.isfile(path):
        return 'nothing measured yet (no %s)' % path
    try:
        state = load_sensitivities(path, with_state=True)
    except ValueError:
        return 'the probes so far are in %s' % path
    n = sum(len(t) for t in state['sensitivities'].values())
    return '%d probe%s saved in %s' % (n, '' if n == 1 else 's', path)


def main():
    parser = ArgsParser('pruning sensitivity analysis (resumable; fast subset mode)')
    parser.add_argument('-p', '--pruned_params', default=None,
                        help='comma-separated parameter names (default: all prunable)')
    parser.add_argument('-r', '--pruned_ratios', default='0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9',
                        help='ratios to probe')
    parser.add_argument('-s', '--sensitivities_file', default='sensitivities.json',
                        help='JSON written after every measurement; rerun to resume')
    parser.add_argument('--eval_images', type=int, default=None,
                        help='evaluate on the first N eval images only (fast mode)')
    parser.add_argument('--max_loss', type=float, default=None,
                        help='stop a curve once its loss exceeds this; print ratios under it')
    parser.add_argument('--plot', default=None, help='PNG of the curves (default: next to -s)')
    add_criterion_arg(parser)
    parser.add_argument('--metric', default=None,
                        help="which value of the config's metric the loss is measured on "
                             "(default: its primary value; COCO: AP, AP50, AR100, ...; VOC: mAP)")
    parser.add_argument('--no_cache', action='store_true',
                        help='do not reuse backbone features between probes')
    args, cfg = parse_and_load(parser)
    from ppdet.slim.pruning_job import check_sensitivity_args, run_sensitivity
    from ppdet.slim.sensitivity import get_ratios_by_loss
    plot = args.plot or os.path.splitext(args.sensitivities_file)[0] + '.png'
    ratios = _floats(args.pruned_ratios)
    # every flag and output path before the model loads (run_sensitivity checks -p before
    # the weights load)
    check_sensitivity_args(args.sensitivities_file, args.eval_images, ratios, args.max_loss,
                           plot, cfg.get('weights'))
    try:
        sens = run_sensitivity(cfg, weights=cfg.get('weights'),
                               pruned_params=args.pruned_params,
                               ratios=ratios,
                               sensitivities_file=args.sensitivities_file,
                               eval_images=args.eval_images, max_loss=args.max_loss,
                               plot_file=plot, criterion=args.prune_criterion,
                               cache_backbone=not args.no_cache, metric=args.metric)
    except KeyboardInterrupt as e:  # Ctrl-C: every finished probe is in the file already
        from ppdet.utils.interrupts import interrupt_exit_code, interrupt_word
        sys.stderr.write('\n%s: %s; run the same command again to go on\n'
                         % (interrupt_word(e), _saved(args.sensitivities_file)))
        sys.exit(interrupt_exit_code(e))
    for name, table in sens.items():
        print('%-32s %s' % (name, ' '.join('%.2f:%.3f' % (r, l) for r, l in table.items())))
    if args.max_loss is not None:
        ratios = get_ratios_by_loss(sens, args.max_loss)
        print('--pruned_params="%s"' % ','.join(ratios))
        print('--pruned_ratios="%s"' % ','.join('%g' % r for r in ratios.values()))
    print('sensitivities: %s  plot: %s' % (args.sensitivities_file, plot))


if __name__ == '__main__':
    run_main(main)
