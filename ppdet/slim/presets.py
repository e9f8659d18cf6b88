"""The seed's (PaddleDetection 1.x slim benchmark) YOLOv3 pruning tables.

``SEED_PRUNED_PARAMS`` are the 18 ``yolo_block`` convolutions the seed prunes
(its ``--pruned_params`` string, in order); ``PRESETS`` maps a strategy name to
one ratio per parameter (``r578``: 0.5 / 0.7 / 0.8 per output branch;
``sensity``: from the seed's sensitivity analysis on COCO).  Also the pruning criteria the
scripts take (:func:`add_criterion_arg`: one flag for prune.py, sensitive.py and distill.py).
Without paddle: the scripts build their parsers before importing it.
"""
import collections

__all__ = ['SEED_PRUNED_PARAMS', 'PRESETS', 'preset_ratios', 'CRITERIA', 'CRITERION_CHOICES',
           'add_criterion_arg']

SEED_PRUNED_PARAMS = tuple(
    'yolo_block.%d.%s.conv.weights' % (i, suffix)
    for i in range(3) for suffix in ('0.0', '0.1', '1.0', '1.1', '2', 'tip'))

PRESETS = collections.OrderedDict([
    ('r578', (0.5,) * 6 + (0.7,) * 6 + (0.8,) * 6),
    ('sensity', (0.1, 0.2, 0.2, 0.2, 0.2, 0.1,
                 0.2, 0.3, 0.3, 0.3, 0.2, 0.1,
                 0.3, 0.4, 0.4, 0.4, 0.4, 0.3)),
])


def preset_ratios(name):
    """OrderedDict seed parameter name -> ratio for preset ``name``."""
    if name not in PRESETS:
        raise ValueError('unknown pruning preset %r (known: %s)' % (name, ', '.join(PRESETS)))
    return collections.OrderedDict(zip(SEED_PRUNED_PARAMS, PRESETS[name]))


# the filter criteria ppdet.slim.prune implements, and the flag's choices: those and 'fpgm',
# the name PaddleSlim users know for geometry_median
CRITERIA = ('l1_norm', 'geometry_median')
CRITERION_CHOICES = CRITERIA + ('fpgm',)


def add_criterion_arg(parser, default='l1_norm'):
    """``--prune_criterion`` as every pruning script takes it; ``default`` None: the script
    takes it from what it works on (prune.py: the resumed checkpoint's or the sensitivities
    file's, else l1_norm)."""
    parser.add_argument('--prune_criterion', default=default, choices=CRITERION_CHOICES,
                        help='which filters go: the smallest L1 norm, or geometry_median '
                             '(FPGM; "fpgm" names it too)' + (
                                 '' if default else '; default: the sensitivities file\'s '
                                 '(--target_flops) or the resumed checkpoint\'s, else l1_norm'))
