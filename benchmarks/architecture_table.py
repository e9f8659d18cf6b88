"""The seed's pruning table re-counted: GFLOPs and size of each full-size config, pruned
with baseline / sensity / r578 at 608 and counted at 608 / 416 / 320, beside the seed.

python benchmarks/architecture_table.py [--configs a.yml,b.yml] [--strategies ...]
    [--sizes 608,416,320] [--out_dir benchmarks/results]

GFLOPs follow the seed: conv multiply-accumulates / 1024^3, deformable convs not counted
(the 'with DCN' column counts them).  Size: float32 state dict in MiB.  Writes
architecture.md and architecture.json ({"rows": [...], "_settings": the run's configs,
strategies, sizes and prune size}); an --out_dir holding a table of other settings is refused
(--overwrite replaces it).  A few minutes on 2 cores (no weights needed).
"""
import argparse
import glob
import os
import time

from ppdet.core.workspace import did_you_mean
from ppdet.utils.cli import check_choices, command_line, parse_numbers, run_main


def build_parser():
    from ppdet.benchmark.architecture import ARCH_CONFIGS
    from ppdet.benchmark.seed_tables import STRATEGIES
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--configs', default=','.join(ARCH_CONFIGS),
                   help='comma-separated config files (paths from the repository root)')
    p.add_argument('--strategies', default=','.join(STRATEGIES),
                   help='pruning strategies: baseline and the seed presets')
    p.add_argument('--sizes', default='608,416,320',
                   help='comma-separated input sizes the GFLOPs are counted at (multiples '
                        'of 32)')
    p.add_argument('--prune_size', type=int, default=608,
                   help='input size the pruner traces the model with (a multiple of 32)')
    p.add_argument('--out_dir', default='benchmarks/results',
                   help='where architecture.md and architecture.json go; one holding a '
                        'table of other settings is refused')
    p.add_argument('--overwrite', action='store_true',
                   help='replace the table of another run (other configs, strategies, sizes '
                        'or prune size) in --out_dir')
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    from ppdet.benchmark.architecture import architecture_stats, format_architecture_table
    from ppdet.utils.fileio import atomic_write, check_output_dir, write_json
    configs = [c for c in args.configs.split(',') if c]
    for c in configs:
        if not os.path.isfile(c):
            known = sorted(glob.glob('configs/**/*.yml', recursive=True))
            raise FileNotFoundError('config %s not found (run from the repository root)%s'
                                    % (c, did_you_mean(c, known)))
    sizes = parse_numbers('--sizes', args.sizes, example='608,416,320')
    from ppdet.benchmark.full_size import check_input_size
    for flag, size in [('--sizes', s) for s in sizes] + [('--prune_size', args.prune_size)]:
        check_input_size(flag, size)
    strategies = [s for s in args.strategies.split(',') if s]
    from ppdet.slim.presets import PRESETS
    check_choices('--strategies', strategies, ['baseline'] + list(PRESETS))
    check_presets_fit(configs, [s for s in strategies if s in PRESETS])
    check_output_dir(args.out_dir, '--out_dir')
    from ppdet.utils.settings_record import SETTINGS_KEY, check_results_overwrite
    settings = run_settings(configs, strategies, sizes, args.prune_size)
    check_results_overwrite(os.path.join(args.out_dir, 'architecture.json'), settings,
                            args.overwrite, '--out_dir', recorded_settings)
    tic = time.time()
    rows = []
    for i, config in enumerate(configs):
        print('[%d/%d] %s' % (i + 1, len(configs), config), flush=True)
        rows += architecture_stats(config, strategies, sizes, args.prune_size,
                                   progress=lambda m: print('  ' + m, flush=True))
    table = format_architecture_table(rows)
    text = ('# Architecture: GFLOPs and size vs the seed\n\n'
            'Pruned at %d with PaddleSlim (L1 norm, the seed\'s 18 yolo_block convs), counted '
            'at each input size. GFLOPs = conv MACs / 1024^3 without deformable convs (the '
            'seed\'s counter); "with DCN" adds them. Size = float32 parameters and BN '
            'statistics in MiB: raw, and with each tensor rounded up to 4 KiB as in the '
            'one-file-per-variable checkpoint directories the seed measured. The seed\'s '
            'GFLOPs are rounded to 0.01, so differences of a few tenths of a percent on the '
            'small counts are its rounding. yolov3_r34 has no seed figure.\n\n%s\n\n'
            'command: `%s`; %.0f s; %s UTC\n' % (
                args.prune_size, table, command_line('benchmarks/architecture_table.py', argv),
                time.time() - tic,
                time.strftime('%Y-%m-%d %H:%M', time.gmtime())))
    os.makedirs(args.out_dir, exist_ok=True)
    atomic_write(os.path.join(args.out_dir, 'architecture.md'), lambda f: f.write(text))
    write_json(os.path.join(args.out_dir, 'architecture.json'),
               {'rows': rows, SETTINGS_KEY: settings})
    print(table)


def run_settings(configs, strategies, sizes, prune_size):
    """What the table's numbers depend on (recorded in architecture.json): the configs (paths
    relative to the repository root), strategies, counted sizes and the prune size; sorted,
    as the order changes the rows' order, not their numbers."""
    return {'configs': sorted(os.path.relpath(c) for c in configs),
            'strategies': sorted(strategies), 'sizes': sorted(int(s) for s in sizes),
            'prune_size': int(prune_size)}


def recorded_settings(table):
    """architecture.json's record of its run (:func:`run_settings`); for a file written before
    the record (a list of rows: the committed one), the configs, strategies and sizes of its
    rows (a row names its config by file name: one of the default configs is its path)."""
    from ppdet.benchmark.architecture import ARCH_CONFIGS
    from ppdet.utils.settings_record import SETTINGS_KEY
    if isinstance(table, dict):
        if SETTINGS_KEY in table:
            return table[SETTINGS_KEY]
        table = table['rows']
    if not isinstance(table, list):
        raise TypeError('not a list of rows')
    if not table:
        return {}
    known = {os.path.splitext(os.path.basename(c))[0]: c for c in ARCH_CONFIGS}
    return {'configs': sorted({known.get(r['config'], r['config']) for r in table}),
            'strategies': sorted({r['strategy'] for r in table}),
            'sizes': sorted({int(r['input_size']) for r in table})}


def check_presets_fit(configs, presets):
    """Refuse a config that is not a YOLOv3 when a seed preset is asked for: the presets prune
    YOLOv3's 18 yolo_block convs (it used to build the baseline, then fail on the first
    preset with "unknown parameter 'yolo_block.0.0.0.conv.weights'")."""
    from ppdet.core.workspace import load_config
    if not presets:
        return
    for config in configs:
        architecture = load_config(config).get('architecture')
        if architecture != 'YOLOv3':
            raise ValueError('--strategies: %s %s YOLOv3 preset%s (the seed\'s 18 yolo_block '
                             'convs); --configs %s is %s: use --strategies baseline' % (
                                 '/'.join(presets), 'is a' if len(presets) == 1 else 'are',
                                 '' if len(presets) == 1 else 's', config, architecture))


if __name__ == '__main__':
    run_main(main)
