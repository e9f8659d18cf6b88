"""Fast sensitivity analysis vs PaddleSlim's own loop, side by side in one run.

python benchmarks/sensitivity_speed.py -c configs/builtin/yolov3_r18_builtin.yml \
    -o weights=output/pipeline/baseline/model_final \
    --out_dir output/sensitivity_speed [--eval_images 40 --max_loss 0.5]

PaddleSlim = its dygraph ``FilterPruner.sensitive`` (paddleslim.dygraph), as a PaddleSlim
user runs it: every parameter x 0.1 ... 0.9 pruned, evaluated on the whole eval set and
restored.  Fast = the project's mode: the first N eval images, backbone features reused
between probes, ratios that remove the same filters reuse a loss, early stop past
--max_loss.  ``--with_full`` also times the project's own naive loop (the earlier
reference).  All use the same evaluator (eval images decoded once, in memory), so the
times compare the loops, not the data loading.  Reports wall times, speed-ups and the
Spearman correlation of the parameter rankings (mean loss over the ratios both probed).
The fast mode's reuse (backbone features, the neck units a probe leaves unchanged, the
metric's ground truth) is exact: the same losses as evaluating those images from scratch.
sensitivity_speed.json records the run's settings (config, weights, -o, the fast mode's flags,
--metric, --with_full); an --out_dir holding a run of other ones is refused (--overwrite
replaces it).
"""
import os
import shutil
import tempfile
import time

from ppdet.utils.cli import ArgsParser, command_line, parse_and_load, run_main


def _timed(fn):
    tic = time.time()
    out = fn()
    return {'seconds': time.time() - tic, 'sens': out}


class ProbeLines(object):
    """An evaluator that prints a line after each of its evaluations (which of how many, the
    time since the first began), so that PaddleSlim's silent loop of minutes shows where it
    is.  The printing's own time is added up in ``spent``, taken off the loop's time by the
    caller: the lines are outside the timing."""

    def __init__(self, label):
        self.label, self.evaluator, self.total = label, None, 0
        self.done, self.spent, self.start = 0, 0.0, None

    def __call__(self, model):
        if self.start is None:
            self.start = time.time()
        value = self.evaluator(model)
        tic = time.time()
        self.done += 1
        print('%s: evaluation %d of %d done, %.0f s' % (self.label, self.done, self.total,
                                                        tic - self.start), flush=True)
        self.spent += time.time() - tic
        return value


def parse_ratios(text):
    """``--ratios`` -> floats, each in (0, 1)."""
    from ppdet.utils.cli import parse_numbers
    ratios = parse_numbers('--ratios', text, float, example='0.1,0.2,0.3')
    bad = [r for r in ratios if not 0 < r < 1]
    if bad:
        raise ValueError('--ratios: %s outside (0, 1): each is the share of a conv\'s filters '
                         'a probe prunes, e.g. 0.1,0.2,...,0.9' % ', '.join('%g' % r for r in bad))
    return ratios


def check_pruned_params(text):
    """``--pruned_params``: None or '' (every prunable parameter) or at least two names: the
    benchmark compares the two loops' rankings of the parameters (Spearman)."""
    if not text:
        return
    from ppdet.slim.prune import split_flag
    names = sorted(set(split_flag(text)))
    if len(names) < 2:
        raise ValueError('--pruned_params: %d parameter given (%s); the benchmark compares the '
                         "two loops' rankings of the parameters (Spearman), which needs at "
                         'least two: give two or more, comma-separated, or leave the flag out '
                         'for every prunable one' % (len(names), ', '.join(names) or text))


def check_args(args):
    """Every flag, before the model is built and before a result file is written."""
    from ppdet.utils.cli import check_range
    from ppdet.utils.fileio import check_output_dir
    check_range('--eval_images', args.eval_images, 1,
                hint="the first N eval images the fast mode's probes score")
    if not 0 < args.max_loss <= 1:
        raise ValueError('--max_loss must be in (0, 1], got %r (the relative metric drop past '
                         "which the fast mode stops probing a parameter's larger ratios: 0.5 = "
                         'half the metric lost; 1 never stops)' % args.max_loss)
    check_pruned_params(args.pruned_params)
    check_output_dir(args.out_dir, '--out_dir')
    return parse_ratios(args.ratios)


def build_parser():
    parser = ArgsParser('benchmark fast sensitivity vs PaddleSlim FilterPruner.sensitive')
    parser.add_argument('--eval_images', type=int, default=40,
                        help="the fast mode's eval images (the first N)")
    parser.add_argument('--max_loss', type=float, default=0.5,
                        help="the fast mode's early stop: a parameter's larger ratios are not "
                             'probed past this relative metric drop, in (0, 1]')
    parser.add_argument('--ratios', default='0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9',
                        help="the fast mode's ratios (PaddleSlim's loop always probes 0.1 ... 0.9)")
    parser.add_argument('--pruned_params', default=None,
                        help='comma-separated parameters to analyse, at least two (default: all '
                             'prunable)')
    parser.add_argument('--with_full', action='store_true',
                        help="also time the project's naive full loop")
    parser.add_argument('--out_dir', default='benchmarks/results',
                        help='where the sensitivity_*.json and sensitivity_speed.{md,json} go, '
                             'all written at the end of the run')
    parser.add_argument('--metric', default=None,
                        help="value of the config's metric the loss is measured on (default: "
                             "its primary value; as in slim/sensitive)")
    parser.add_argument('--overwrite', action='store_true',
                        help='replace the files of a run with other settings (config, weights, '
                             '-o, --eval_images, --max_loss, --ratios, --pruned_params, --metric, '
                             '--with_full) in --out_dir')
    return parser


def _pruned_names(text):
    from ppdet.slim.prune import split_flag
    return sorted(set(split_flag(text))) if text else None


def run_settings(args, cfg, ratios):
    """What the tables' numbers depend on (recorded in sensitivity_speed.json): the model
    (config, weights, the other -o overrides), the fast mode's flags, --metric and
    --with_full (a row more); not the paths."""
    weights = cfg.get('weights')
    return {'config': os.path.relpath(args.config),
            'weights': None if weights is None else os.path.normpath(weights),
            'overrides': [o for o in args.opt if not o.startswith('weights=')],
            'eval_images': args.eval_images, 'max_loss': args.max_loss,
            'ratios': [float(r) for r in ratios],
            'pruned_params': _pruned_names(args.pruned_params), 'metric': args.metric,
            'with_full': bool(args.with_full)}


def recorded_settings(summary):
    """sensitivity_speed.json's record of its run (:func:`run_settings`); for a summary
    written before the record (the committed ones), what it says of itself: config, weights,
    the fast mode's images, early stop and ratios, the parameters, and (beside PaddleSlim's
    loop) whether the full loop ran."""
    from ppdet.utils.settings_record import SETTINGS_KEY
    if not isinstance(summary, dict):
        raise TypeError('not a summary dict')
    if SETTINGS_KEY in summary:
        return summary[SETTINGS_KEY]
    out = {}
    if summary.get('config'):
        out['config'] = os.path.relpath(summary['config'])
    if 'weights' in summary:
        out['weights'] = None if summary['weights'] is None else \
            os.path.normpath(summary['weights'])
    for key, name in (('eval_images', 'eval_images_fast'), ('max_loss', 'max_loss_fast')):
        if name in summary:
            out[key] = summary[name]
    ratios = summary.get('ratios_fast', summary.get('ratios'))   # the first layout: ratios
    if ratios is not None:
        out['ratios'] = [float(r) for r in ratios]
    if 'pruned_params' in summary:
        text = summary['pruned_params']
        out['pruned_params'] = None if text == 'all prunable' else _pruned_names(text)
    if 'paddleslim_s' in summary:    # the first layout's full loop was its reference, always
        out['with_full'] = 'full_s' in summary
    return out


def run_loops(cfg, args, ratios, tmp):
    """The timed loops -> {name: {'seconds', 'sens'}}.  Every file they write (PaddleSlim's
    status pickle, the fast and full modes' sensitivities, which they would resume from) goes
    to ``tmp``, new for the run: each loop is timed complete, and nothing reaches --out_dir
    before the run has finished."""
    from ppdet.slim.pruning_job import run_paddleslim_sensitivity, run_sensitivity
    from ppdet.slim.sensitivity import PADDLESLIM_RATIOS
    weights = cfg.get('weights')

    def ours(name, **kw):
        path = os.path.join(tmp, 'sensitivity_%s.json' % name)
        return _timed(lambda: run_sensitivity(cfg, weights=weights, sensitivities_file=path,
                                              pruned_params=args.pruned_params,
                                              progress=True, metric=args.metric, **kw))

    lines = ProbeLines("PaddleSlim's loop")

    def with_lines(evaluator, evaluations):
        lines.evaluator, lines.total = evaluator, evaluations
        return lines

    runs = {'paddleslim': _timed(lambda: run_paddleslim_sensitivity(
        cfg, weights=weights, metric=args.metric, pruned_params=args.pruned_params,
        status_file=os.path.join(tmp, 'sensitivity_paddleslim.pickle'),
        wrap_evaluator=with_lines))}
    runs['paddleslim']['seconds'] -= lines.spent   # the progress lines are outside the timing
    runs['fast'] = ours('fast', ratios=ratios, eval_images=args.eval_images,
                        max_loss=args.max_loss, cache_backbone=True)
    if args.with_full:
        runs['full'] = ours('full', ratios=list(PADDLESLIM_RATIOS), eval_images=None,
                            max_loss=None, cache_backbone=False)
    return runs


def report(args, cfg, ratios, runs, command):
    """-> (the summary dict, the markdown) of the runs."""
    from ppdet.benchmark.cpu import cpu_description, cpu_flags
    from ppdet.slim.sensitivity import PADDLESLIM_RATIOS, spearman
    weights = cfg.get('weights')
    ref = runs['paddleslim']
    summary = {'paddleslim_s': round(ref['seconds'], 1), 'cpu': cpu_description(),
               'cpu_flags': cpu_flags()['flags'],
               'omp_num_threads': os.environ.get('OMP_NUM_THREADS'), 'config': args.config,
               'weights': weights, 'ratios_fast': ratios,
               'pruned_params': args.pruned_params or 'all prunable',
               'ratios_paddleslim': list(PADDLESLIM_RATIOS),
               'eval_images_fast': args.eval_images, 'max_loss_fast': args.max_loss,
               'date': time.strftime('%Y-%m-%d %H:%M'),
               'load_avg_1_5_15': list(os.getloadavg()), 'command': command}
    rows = ['| PaddleSlim `FilterPruner.sensitive` (all images, 0.1 ... 0.9) | %.1f | 1.00x | '
            '1.000 |' % ref['seconds']]
    for name, label in (('full', "project's full loop (all images, no reuse)"),
                        ('fast', 'fast (%d images, backbone and neck-unit reuse, early stop '
                                 'at %.2f)'
                         % (args.eval_images, args.max_loss))):
        if name not in runs:
            continue
        rho = spearman(runs[name]['sens'], ref['sens'])
        speedup = ref['seconds'] / runs[name]['seconds']
        summary.update({'%s_s' % name: round(runs[name]['seconds'], 1),
                        '%s_speedup' % name: round(speedup, 2),
                        '%s_spearman' % name: round(float(rho), 3)})
        rows.append('| %s | %.1f | %.2fx | %.3f |' % (label, runs[name]['seconds'], speedup, rho))
    # the unrounded ratio, as the earlier results file had it
    summary['speedup'] = summary['fast_speedup']
    summary['spearman'] = summary['fast_spearman']
    header = ('Measured on %s (OMP_NUM_THREADS=%s, load average %s at the end; the machine '
              'may be shared), %s, weights %s, parameters: %s, %s.\n\n' % (
                  summary['cpu'], summary['omp_num_threads'],
                  ' / '.join('%.1f' % x for x in summary['load_avg_1_5_15']), args.config,
                  weights, summary['pruned_params'], summary['date'])
              + 'CPU flags: `%s`\n\n' % summary['cpu_flags'] + 'Command: `%s`\n\n' % command)
    table = ('| mode | time (s) | speed-up vs PaddleSlim | ranking vs PaddleSlim (Spearman) |\n'
             '|---|---|---|---|\n' + '\n'.join(rows) + '\n')
    return summary, header + table


def write_outputs(out_dir, tmp, runs, summary, md):
    """The run's files, together once it has finished (each atomically): a run that fails
    or is interrupted leaves --out_dir's earlier set as it was."""
    from ppdet.utils.fileio import atomic_write, write_json
    os.makedirs(out_dir, exist_ok=True)
    write_json(os.path.join(out_dir, 'sensitivity_paddleslim.json'),
               {'sensitivities': {n: {'%g' % r: l for r, l in t.items()}
                                  for n, t in runs['paddleslim']['sens'].items()}})
    for name in ('fast', 'full'):
        if name in runs:
            with open(os.path.join(tmp, 'sensitivity_%s.json' % name)) as f:
                text = f.read()
            atomic_write(os.path.join(out_dir, 'sensitivity_%s.json' % name),
                         lambda f: f.write(text))
    atomic_write(os.path.join(out_dir, 'sensitivity_speed.md'), lambda f: f.write(md))
    write_json(os.path.join(out_dir, 'sensitivity_speed.json'), summary)


def main(argv=None):
    args, cfg = parse_and_load(build_parser(), argv)
    ratios = check_args(args)
    from ppdet.utils.settings_record import SETTINGS_KEY, check_results_overwrite
    settings = run_settings(args, cfg, ratios)
    check_results_overwrite(os.path.join(args.out_dir, 'sensitivity_speed.json'), settings,
                            args.overwrite, '--out_dir', recorded_settings)
    command = command_line('benchmarks/sensitivity_speed.py', argv)
    tmp = tempfile.mkdtemp(prefix='sensitivity_speed.')
    try:
        runs = run_loops(cfg, args, ratios, tmp)
        summary, md = report(args, cfg, ratios, runs, command)
        summary[SETTINGS_KEY] = settings
        write_outputs(args.out_dir, tmp, runs, summary, md)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(md)


if __name__ == '__main__':
    run_main(main)
