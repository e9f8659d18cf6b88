"""The architecture table: GFLOPs and size of each full-size config, pruned with the seed's
strategies at 608 and counted at each input size, beside the seed's figures.

GFLOPs follow the seed: conv MACs / 1024^3, deformable convs not counted (``gflops_all``
counts them).
"""
import os
import time

from .percent import percent_change
from .seed_tables import STRATEGIES, seed_arch

__all__ = ['ARCH_CONFIGS', 'architecture_stats', 'format_architecture_table']

ARCH_CONFIGS = ('configs/yolov3_mobilenet_v1.yml', 'configs/yolov3_mobilenet_v1_voc.yml',
                'configs/yolov3_r50vd_dcn.yml', 'configs/yolov3_r34.yml')


def _build(config):
    import ppdet.modeling  # noqa: F401  (registers the components)
    from ppdet.core.workspace import create, load_config
    cfg = load_config(config)
    return create(cfg['architecture'], cfg)


def architecture_stats(config, strategies=STRATEGIES, sizes=(608, 416, 320), prune_size=608,
                       progress=None):
    """Prune ``config``'s full-size model with each strategy at ``prune_size``; count at ``sizes``.

    -> list of dicts {config, strategy, input_size, gflops (seed convention), gflops_all
    (with deformable convs), size_mb, size_mb_blocks (4 KiB-rounded tensors), seconds}.
    """
    from ppdet.slim.prune import PrunePlan, prune
    from ppdet.utils.model_stats import count_conv_macs, gflops, param_size_mb
    name = os.path.splitext(os.path.basename(config))[0]
    rows = []
    for strategy in strategies:
        tic = time.time()
        model = _build(config)
        if strategy != 'baseline':
            plan = PrunePlan.from_flags(model, None, strategy, input_size=[prune_size] * 2)
            prune(model, plan)
        size, blocks = param_size_mb(model), param_size_mb(model, blocks=True)
        for s in sizes:
            macs = count_conv_macs(model, s)
            rows.append({'config': name, 'strategy': strategy, 'input_size': int(s),
                         'gflops': gflops(macs['conv']),
                         'gflops_all': gflops(macs['conv'] + macs['deformable']),
                         'size_mb': size, 'size_mb_blocks': blocks})
        for r in rows[-len(sizes):]:
            r['seconds'] = round(time.time() - tic, 1)
        if progress:
            progress('%s %s: %s, %.2f MB (%.1f s)' % (name, strategy, ', '.join(
                '%d: %.2f GFLOPs' % (r['input_size'], r['gflops']) for r in rows[-len(sizes):]),
                size, time.time() - tic))
        del model
    return rows


def _seed_arch(row):
    return seed_arch(row['config'], row['strategy'], row['input_size'])


def _vs(ours, seed, fmt='%.2f'):
    if seed is None:
        return '-', '-'
    return fmt % seed, '%+.2f%%' % percent_change(ours, seed)


def format_architecture_table(rows):
    """Markdown: our GFLOPs / size beside the seed's, with the relative difference and
    each strategy's cut vs baseline (ours, and the seed's)."""
    base = {(r['config'], r['input_size']): r for r in rows if r['strategy'] == 'baseline'}
    lines = ['| config | strategy | input | GFLOPs (ours) | seed | diff | cut vs baseline '
             '(ours / seed) | GFLOPs with DCN | size MiB (ours: raw / 4 KiB files) | seed | '
             'diff (4 KiB files / raw) |',
             '|---|---|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        seed_g, seed_mb = _seed_arch(r)
        g_seed, g_diff = _vs(r['gflops'], seed_g)
        s_seed, s_diff = _vs(r['size_mb_blocks'], seed_mb)
        if seed_mb:
            s_diff += ' / %+.2f%%' % percent_change(r['size_mb'], seed_mb)
        b = base.get((r['config'], r['input_size']))
        cut = '-'
        if b is not None and r['strategy'] != 'baseline':
            cut = '%+.2f%%' % percent_change(r['gflops'], b['gflops'])
            sb = _seed_arch(b)[0]
            cut += ' / %s' % ('%+.2f%%' % percent_change(seed_g, sb) if seed_g and sb else '-')
        dcn = '%.2f' % r['gflops_all'] if r['gflops_all'] != r['gflops'] else '(no DCN)'
        lines.append('| %s | %s | %d | %.2f | %s | %s | %s | %s | %.2f / %.2f | %s | %s |' % (
            r['config'], r['strategy'], r['input_size'], r['gflops'], g_seed, g_diff, cut, dcn,
            r['size_mb'], r['size_mb_blocks'], s_seed, s_diff))
    return '\n'.join(lines)
