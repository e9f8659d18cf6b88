"""The seed's RetinaNet conclusions (seeds/001: EvoNorm-S0 beats BN at small batch, GIoU,
cosine decay and Stitch each help) measured on the built-in dataset (issue 15).

python benchmarks/dense_variants.py --quick --comparisons box_loss --seeds 0 1
python benchmarks/dense_variants.py                      # every comparison, full schedule

Every run trains configs/builtin/retinanet_r18_builtin.yml through the project's Trainer
with one comparison's overrides and one seed, then evaluates the whole val set (COCO AP,
AP50, APs = AP on small objects).  Comparisons (:data:`COMPARISONS`):

* ``norm_batch2``: head towers with EvoNorm-S0 vs BN (per level, the config's "Head-BN")
  at a train batch of 2 images;
* ``box_loss``: GIoU on the decoded boxes vs smooth-L1 on the deltas;
* ``lr``: cosine decay vs piecewise (x0.1 at 2/3 and 11/12 of the run, the 1x schedule's
  epochs 8 and 11 of 12), both after the config's warm-up;
* ``stitch``: Stitch (prob 0.5, 2x2 mosaics) on vs off; read APs.

``--quick``: 3 epochs of 800 samples each (2400 samples: 150 steps of 16 images; at the
batch of 2 of ``norm_batch2``, 1200 steps) instead of the config's 12 full epochs of 1800
images (112 steps of 16 each); LR schedules over those steps, the config's LR unchanged.  Quick runs are for finding large effects only: they
stop long before the model converges.

One training at a time, in this process; set OMP_NUM_THREADS=1 on a shared machine.  Each
run's result is cached in ``--work_dir``/<run>.json, so the same command again resumes with
the next run (and an interrupted training from its last finished epoch); the baseline
variants (smooth-L1, cosine, Stitch off: the unchanged config) share one training per seed.
The work dir records the dataset (:func:`check_work_dir`): another is refused before the
first training.  Writes ``--results``.{json,md} with the CPU, its flags, the load average,
OMP_NUM_THREADS, the dataset and the command at the top; they cover every cached run of the
comparisons run, whatever ``--seeds`` says (:func:`cached_runs`); the runs of comparisons not
run this time are kept from the existing results files (:func:`merge_previous`; a results
file of the other mode, quick or full, or of another dataset is refused before the first
training); a difference is called "within the seed spread" when it is not larger than the
larger of the two variants' seed ranges.
"""
import datetime
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppdet.utils.cli import (HelpFormatter, check_range, command_line,  # noqa: E402
                             resume_on_rerun, run_main)
from ppdet.utils.fileio import atomic_write, check_output_dir, check_output_file  # noqa: E402
from ppdet.utils.settings_record import check_settings_record  # noqa: E402

CONFIG = 'configs/builtin/retinanet_r18_builtin.yml'
RESULTS = 'benchmarks/results/dense_variants'
QUICK = {'epoch': 3, 'samples_per_epoch': 800}
_PIECEWISE = [{'name': 'PiecewiseDecay', 'gamma': 0.1, 'milestones': None},
              {'name': 'LinearWarmup', 'start_factor': 0.1, 'steps': 40}]
STITCH = {'Stitch': {'prob': 0.5}}
# in --work_dir: the settings its cached runs were made with (check_work_dir)
SETTINGS_FILE = 'settings.json'

# comparison -> (what the seed says, [(variant, overrides)], the value to read)
COMPARISONS = {
    'norm_batch2': ('EvoNorm-S0 beats BN at small batch; BN may not converge',
                    [('bn_head', {'TrainReader.batch_size': 2, 'RetinaHead.norm_type': 'bn',
                                  'RetinaHead.norm_per_level': True}),
                     ('evonorm_s0_head', {'TrainReader.batch_size': 2,
                                          'RetinaHead.norm_type': 'evonorm_s0',
                                          'RetinaHead.norm_per_level': False})], 'AP'),
    'box_loss': ('GIoU gives a steady gain',
                 [('smooth_l1', {}),  # the config's box loss
                  ('giou', {'RetinaHead.box_loss': 'giou'})], 'AP'),
    'lr': ('cosine decay gives a clear gain',  # the config's schedule is cosine
           [('piecewise', {'LearningRate.schedulers': 'piecewise'}),
            ('cosine', {})], 'AP'),
    'stitch': ('Stitch gives a steady gain (small objects)',
               [('off', {}), ('stitch', {'TrainReader.batch_transforms': 'stitch'})], 'APs'),
}


def run_name(comparison, variant, seed, quick):
    return '%s_%s_seed%d%s' % (comparison, variant, seed, '_quick' if quick else '')


def find_baseline(work_dir, seed, quick):
    """A cached run of the unchanged config (no overrides) with this seed: the baseline
    variants of every comparison (smooth-L1, cosine, Stitch off) are one training."""
    suffix = '_seed%d%s.json' % (seed, '_quick' if quick else '')
    for name in sorted(os.listdir(work_dir)):
        if name.endswith(suffix):
            with open(os.path.join(work_dir, name)) as f:
                run = json.load(f)
            if not run.get('overrides') and not run.get('reused_from'):
                return run
    return None


def build_cfg(overrides, seed, quick, dataset_dir, save_dir):
    """The built-in RetinaNet config with a variant's ``overrides``, ``seed`` and the quick
    schedule; ``'piecewise'`` / ``'stitch'`` stand for the schedule / reader edits."""
    from ppdet.core.workspace import apply_overrides, load_config
    cfg = load_config(CONFIG)
    if quick:
        cfg['epoch'] = QUICK['epoch']
    plain = {}
    for key, value in overrides.items():
        if value == 'piecewise':
            epochs = int(cfg['epoch'])
            sched = [dict(s) for s in _PIECEWISE]
            sched[0]['milestones'] = [epochs * 8 / 12., epochs * 11 / 12.]
            cfg['LearningRate']['schedulers'] = sched
        elif value == 'stitch':
            cfg['TrainReader']['batch_transforms'] = [dict(STITCH)] + list(
                cfg['TrainReader']['batch_transforms'])
        else:
            plain[key] = value
    apply_overrides(cfg, dict(plain, seed=seed, worker_num=1, save_dir=save_dir,
                              snapshot_epoch=1000))
    if quick:  # the same number of samples at every batch size
        batch = int(cfg['TrainReader']['batch_size'])
        apply_overrides(cfg, {'max_iters_per_epoch': QUICK['samples_per_epoch'] // batch})
    if dataset_dir:
        for section in ('TrainDataset', 'EvalDataset', 'TestDataset'):
            cfg[section]['dataset_dir'] = dataset_dir
    return cfg


def train_and_eval(cfg, name):
    from ppdet.engine.callbacks import Callback
    from ppdet.engine.trainer import Trainer
    losses = []

    class Losses(Callback):  # first / last losses: tells a diverged run from a slow one
        def on_step_end(self, status):
            losses.append(status['losses']['loss'])

    t = Trainer(cfg, mode='train')
    latest = os.path.join(t.save_dir, 'latest.pdparams')
    if os.path.isfile(latest):   # an interrupted training of this run: go on from it
        t.resume(latest)
    t.extra_callbacks.append(Losses(t))
    tic = time.time()
    t.train(validate=False)
    train_s = time.time() - tic
    res = t.evaluate()
    tail = losses[-10:]
    out = {'run': name, 'train_s': round(train_s, 1), 'steps': len(losses),
           'loss_first10': round(sum(losses[:10]) / max(1, len(losses[:10])), 4),
           'loss_last10': round(sum(tail) / max(1, len(tail)), 4),
           'metrics': {k: round(float(v), 4) for k, v in res.items()}}
    if t.start_epoch:   # steps, losses and time are this process's part of the training
        out['resumed_at_epoch'] = t.start_epoch
    return out


def cached_runs(work_dir, comparisons, quick):
    """Every cached run in ``work_dir`` of ``comparisons`` in this mode, whatever its seed
    (a run with fewer --seeds must not drop the others from the results)."""
    runs = {}
    for name in sorted(os.listdir(work_dir)):
        for comp in comparisons:
            for variant, _ in COMPARISONS[comp][1]:
                if re.match(r'%s_%s_seed\d+%s\.json$' % (comp, variant, '_quick' if quick
                                                          else ''), name):
                    with open(os.path.join(work_dir, name)) as f:
                        runs[name[:-len('.json')]] = json.load(f)
    return runs


def seeds_of(runs):
    return sorted({int(re.search(r'_seed(\d+)', n).group(1)) for n in runs})


def summarize(runs, comparisons, seeds):
    out = {}
    for comp in comparisons:
        claim, variants, key = COMPARISONS[comp]
        rows = {}
        for variant, _ in variants:
            vals = [runs[n]['metrics'][key] for n in runs
                    if runs[n]['comparison'] == comp and runs[n]['variant'] == variant]
            if vals:
                rows[variant] = {'values': vals, 'mean': sum(vals) / len(vals),
                                 'range': max(vals) - min(vals)}
        entry = {'seed_claim': claim, 'metric': key, 'variants': rows}
        if len(rows) == 2:
            (a, ra), (b, rb) = [(v, rows[v]) for v, _ in variants]
            diff = rb['mean'] - ra['mean']
            spread = max(ra['range'], rb['range'])
            if min(len(ra['values']), len(rb['values'])) < 2:
                verdict = 'one seed only: no spread to compare the difference with'
            elif abs(diff) <= spread:
                verdict = 'within the seed spread'
            else:
                verdict = '%s better by %.4f %s' % (b if diff > 0 else a, abs(diff), key)
            entry.update(difference=round(diff, 4), seed_spread=round(spread, 4),
                         verdict=verdict)
        out[comp] = entry
    return out


def kept_runs(previous, mode, comparisons, dataset_dir=None):
    """``previous`` results' runs of the comparisons not run now (``--comparisons`` runs a
    subset and must not drop the others from the results files); refuses a previous file of
    another ``mode`` (quick / full) or of another ``dataset_dir`` (None: not checked; a file
    from before it was recorded is taken as this one's), which belongs under another
    ``--results``.  main calls it before the first training, :func:`merge_previous` again
    at the end."""
    kept = {n: r for n, r in (previous or {}).get('runs', {}).items()
            if r.get('comparison') not in comparisons}
    if not kept:
        return kept
    comps = ', '.join(sorted({r['comparison'] for r in kept.values()}))
    if previous.get('mode') != mode:
        raise ValueError('the results file holds %s runs of %s but this run is %s; give '
                         'another --results (e.g. %s_full)' % (
                             previous.get('mode'), comps, mode, RESULTS))
    old = previous.get('dataset_dir', dataset_dir)
    if dataset_dir is not None and old != dataset_dir:
        raise ValueError('the results file holds runs of %s on the dataset %s but this run '
                         'is on %s; give another --results' % (comps, old, dataset_dir))
    return kept


def mode_name(quick):
    return 'quick (%s)' % QUICK if quick else 'full (config schedule)'


def merge_previous(res, previous, comparisons):
    """Keep ``previous`` results' runs of the comparisons not run now (:func:`kept_runs`)."""
    kept = kept_runs(previous, res['mode'], comparisons, res.get('dataset_dir'))
    if not kept:
        return res
    runs = dict(kept, **res['runs'])
    seeds = sorted(set(res['seeds']) | set(previous.get('seeds', [])))
    order = [c for c in COMPARISONS if any(r.get('comparison') == c for r in runs.values())]
    return dict(res, runs=runs, seeds=seeds, comparisons=order,
                earlier_results_date=previous.get('date'))


def _load_range(runs):
    loads = [r['load_avg_after'][0] for r in runs.values() if r.get('load_avg_after')]
    return '%.1f-%.1f' % (min(loads), max(loads)) if loads else 'not recorded'


def write_md(path, res):
    lines = ['# RetinaNet variants on the built-in dataset (seed 001 conclusions)', '',
             'Written by `benchmarks/dense_variants.py` on %s%s.' % (
                 res['date'], '; the runs of the comparisons not run then kept from the '
                 'results written on %s' % res['earlier_results_date']
                 if res.get('earlier_results_date') else ''), '',
             '- CPU: %s (%s); full flags in the .json' % (res['cpu'].get('model'),
                                                          res['cpu']['summary']),
             '- load average (1/5/15 min) when this table was written: %s; 1-min load after '
             'each training: %s' % (res['load_avg_start'], _load_range(res['runs'])),
             '- OMP_NUM_THREADS=%s; one training at a time; mode: %s' % (
                 res['omp_num_threads'], res['mode']),
             '- config: `%s`, seeds %s (every cached run of the comparisons), dataset `%s`'
             % (CONFIG, res['seeds'], res.get('dataset_dir', 'not recorded')),
             '- command: `%s`' % res.get('command', 'not recorded'), '']
    for comp, s in res['summary'].items():
        lines += ['## %s (%s)' % (comp, s['metric']), '',
                  'Seed 001 says: %s.' % s['seed_claim'], '',
                  '| variant | %s per seed | mean | seed range |' % s['metric'],
                  '|---|---|---|---|']
        for v, r in s['variants'].items():
            lines.append('| %s | %s | %.4f | %.4f |' % (
                v, ', '.join('%.4f' % x for x in r['values']), r['mean'], r['range']))
        if 'difference' in s:
            lines += ['', 'Difference (second - first): %+.4f; seed spread %.4f: **%s**.' % (
                s['difference'], s['seed_spread'], s['verdict'])]
        lines.append('')
    lines += ['## Runs', '', 'A baseline variant (the unchanged config) reuses an earlier '
              'training of the same config and seed where one exists ("same training as").',
              '', '| run | AP | AP50 | APs | loss first 10 / last 10 steps | steps | train s |'
              ' same training as |', '|---|---|---|---|---|---|---|---|']
    for name, r in sorted(res['runs'].items()):
        m = r['metrics']
        lines.append('| %s | %.4f | %.4f | %.4f | %.3f / %.3f | %s | %.0f | %s |' % (
            name, m['AP'], m['AP50'], m['APs'], r['loss_first10'], r['loss_last10'],
            _steps(r), r['train_s'], r.get('reused_from', '')))
    atomic_write(path, lambda f: f.write('\n'.join(lines) + '\n'))


def _steps(run):
    """A run's steps cell: a resumed run's steps, losses and time are after the resume."""
    if run.get('resumed_at_epoch'):
        return '%d (resumed after epoch %d: losses, steps and time from there)' % (
            run['steps'], run['resumed_at_epoch'])
    return '%d' % run['steps']


def read_previous(path):
    """The results file a run adds to (None when there is none)."""
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except ValueError as e:
        raise ValueError('--results: %s is not a results file (%s); give another --results'
                         % (path, e))


def dataset_of(dataset_dir):
    """The dataset the runs train and evaluate on: ``--dataset_dir``, else the config's."""
    from ppdet.core.workspace import load_config
    return os.path.normpath(dataset_dir or load_config(CONFIG)['TrainDataset']['dataset_dir'])


def check_work_dir(work_dir, dataset_dir):
    """Record in ``work_dir`` the settings its cached runs depend on (the config, the dataset,
    the quick schedule; quick and full runs have their own names), or refuse other ones
    before the first training: the cached runs would be reported as this run's.  Cached runs
    from before the record are taken as made with these settings, with a warning."""
    path = os.path.join(work_dir, SETTINGS_FILE)
    if not os.path.isfile(path) and any(n.endswith('.json') for n in os.listdir(work_dir)):
        sys.stderr.write('warning: %s holds cached runs but no record of their settings: '
                         "taken as made with this run's (dataset %s); other settings are "
                         'refused from now on\n' % (work_dir, dataset_dir))
    check_settings_record(path, {'config': CONFIG, 'dataset_dir': dataset_dir,
                                 'quick_schedule': QUICK},
                          'its cached runs', 'give another --work_dir')


def run_all(args):
    """Train (or read from the cache) every run of ``args.comparisons`` and ``args.seeds``."""
    from ppdet.utils.fileio import write_json
    for comp in args.comparisons:
        for seed in args.seeds:
            for variant, overrides in COMPARISONS[comp][1]:
                name = run_name(comp, variant, seed, args.quick)
                cache = os.path.join(args.work_dir, name + '.json')
                base = None if overrides or os.path.exists(cache) else \
                    find_baseline(args.work_dir, seed, args.quick)
                if os.path.exists(cache):
                    with open(cache) as f:
                        run = json.load(f)
                elif base is not None:  # the same training, already done
                    run = dict(base, run=name, comparison=comp, variant=variant,
                               reused_from=base['run'])
                    write_json(cache, run)
                else:
                    cfg = build_cfg(overrides, seed, args.quick, args.dataset_dir,
                                    os.path.join(args.work_dir, name))
                    run = dict(train_and_eval(cfg, name), comparison=comp, variant=variant,
                               seed=seed, overrides=overrides,
                               load_avg_after=[round(x, 2) for x in os.getloadavg()])
                    write_json(cache, run)
                print('%s: %s' % (name, run['metrics']), flush=True)


def main():
    import argparse
    from ppdet.benchmark.cpu import cpu_flags
    from ppdet.utils.fileio import write_json
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=HelpFormatter)
    p.add_argument('--comparisons', nargs='+', default=list(COMPARISONS), choices=COMPARISONS,
                   help='which of the seed\'s conclusions to measure')
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1],
                   help='one training per seed and variant (each in [0, 2**32 - 1]; runs '
                        'already cached are not trained again); the results cover every '
                        'cached run of the comparisons in --work_dir, whatever its seed')
    p.add_argument('--quick', action='store_true', help='3 epochs x 800 samples (see above)')
    p.add_argument('--dataset_dir', default=None,
                   help='built-in COCO dir if not dataset/builtin/coco (tools/gen_dataset.py)')
    p.add_argument('--work_dir', default='output/dense_variants_work',
                   help='each run\'s training and its cached result (<run>.json); the '
                        'same command again resumes an interrupted training; the dataset is '
                        'recorded there (another one needs another --work_dir)')
    p.add_argument('--results', default=RESULTS,
                   help='output path without extension (.json and .md are written; the '
                        'committed file holds quick runs: give another for a full run)')
    args = p.parse_args()
    # bad input, a results file of the other mode or dataset and a work dir of another
    # dataset are refused before the first training
    for seed in args.seeds:
        check_range('--seeds', seed, 0, 2 ** 32 - 1, hint='the trainings\' random seeds')
    check_output_dir(args.work_dir, '--work_dir')
    check_output_file(args.results + '.json', '--results')
    check_output_file(args.results + '.md', '--results')
    dataset = dataset_of(args.dataset_dir)
    previous = read_previous(args.results + '.json')
    kept_runs(previous, mode_name(args.quick), args.comparisons, dataset)
    os.makedirs(args.work_dir, exist_ok=True)
    check_work_dir(args.work_dir, dataset)
    res = {'date': datetime.datetime.now().isoformat(timespec='seconds'), 'cpu': cpu_flags(),
           'load_avg_start': [round(x, 2) for x in os.getloadavg()],
           'omp_num_threads': os.environ.get('OMP_NUM_THREADS'), 'dataset_dir': dataset,
           'command': command_line('benchmarks/dense_variants.py'),
           'mode': mode_name(args.quick)}
    # Ctrl-C: the training's "resume with -r" is not this script's way (it has no -r)
    with resume_on_rerun('the finished runs are cached in %s' % args.work_dir,
                         command_line('benchmarks/dense_variants.py'),
                         'this script takes no -r: an interrupted training goes on from its '
                         'last finished epoch by itself'):
        run_all(args)
    res['runs'] = cached_runs(args.work_dir, args.comparisons, args.quick)
    res['seeds'] = seeds_of(res['runs'])
    res['load_avg_end'] = [round(x, 2) for x in os.getloadavg()]
    # read again: another process may have written it while this one trained
    res = merge_previous(res, read_previous(args.results + '.json'), args.comparisons)
    res['summary'] = summarize(res['runs'], res.get('comparisons', args.comparisons),
                               res['seeds'])
    os.makedirs(os.path.dirname(args.results) or '.', exist_ok=True)
    write_json(args.results + '.json', res)
    write_md(args.results + '.md', res)
    print(open(args.results + '.md').read())


if __name__ == '__main__':
    run_main(main)
