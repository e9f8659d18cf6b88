"""Fast sensitivity analysis vs PaddleSlim's own loop, side by side in one run.

python benchmarks/sensitivity_speed.py -c configs/builtin/yolov3_r18_builtin.yml \
    -o weights=output/issue19/pipe/baseline/model_final \
       EvalDataset.dataset_dir=output/issue19/data/coco [--eval_images 40 --max_loss 0.5]

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
"""
import os
import time

from ppdet.utils.cli import ArgsParser, parse_and_load, run_main


def _timed(fn):
    tic = time.time()
    out = fn()
    return {'seconds': time.time() - tic, 'sens': out}


def main():
    parser = ArgsParser('benchmark fast sensitivity vs PaddleSlim FilterPruner.sensitive')
    parser.add_argument('--eval_images', type=int, default=40)
    parser.add_argument('--max_loss', type=float, default=0.5)
    parser.add_argument('--ratios', default='0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9',
                        help="the fast mode's ratios (PaddleSlim's loop always probes 0.1 ... 0.9)")
    parser.add_argument('--pruned_params', default=None,
                        help='comma-separated parameters to analyse (default: all prunable)')
    parser.add_argument('--with_full', action='store_true',
                        help="also time the project's naive full loop")
    parser.add_argument('--out_dir', default='benchmarks/results')
    parser.add_argument('--metric', default=None,
                        help="value of the config's metric the loss is measured on (default: "
                             "its primary value; as in slim/sensitive)")
    args, cfg = parse_and_load(parser)
    from ppdet.benchmark.cpu import cpu_description
    from ppdet.slim.pruning_job import run_paddleslim_sensitivity, run_sensitivity
    from ppdet.slim.sensitivity import PADDLESLIM_RATIOS, spearman
    from ppdet.utils.fileio import write_json
    ratios = [float(r) for r in args.ratios.split(',')]
    os.makedirs(args.out_dir, exist_ok=True)
    weights = cfg.get('weights')

    def ours(name, **kw):
        path = os.path.join(args.out_dir, 'sensitivity_%s.json' % name)
        if os.path.exists(path):
            os.remove(path)  # time a complete run, not a resumed one
        return _timed(lambda: run_sensitivity(cfg, weights=weights, sensitivities_file=path,
                                              pruned_params=args.pruned_params,
                                              progress=True, metric=args.metric, **kw))

    runs = {'paddleslim': _timed(lambda: run_paddleslim_sensitivity(
        cfg, weights=weights, metric=args.metric, pruned_params=args.pruned_params,
        status_file=os.path.join(args.out_dir, 'sensitivity_paddleslim.pickle')))}
    write_json(os.path.join(args.out_dir, 'sensitivity_paddleslim.json'),
               {'sensitivities': {n: {'%g' % r: l for r, l in t.items()}
                                  for n, t in runs['paddleslim']['sens'].items()}})
    runs['fast'] = ours('fast', ratios=ratios, eval_images=args.eval_images,
                        max_loss=args.max_loss, cache_backbone=True)
    if args.with_full:
        runs['full'] = ours('full', ratios=list(PADDLESLIM_RATIOS), eval_images=None,
                            max_loss=None, cache_backbone=False)
    ref = runs['paddleslim']
    summary = {'paddleslim_s': round(ref['seconds'], 1), 'cpu': cpu_description(),
               'omp_num_threads': os.environ.get('OMP_NUM_THREADS'), 'config': args.config,
               'weights': weights, 'ratios_fast': ratios,
               'pruned_params': args.pruned_params or 'all prunable',
               'ratios_paddleslim': list(PADDLESLIM_RATIOS),
               'eval_images_fast': args.eval_images, 'max_loss_fast': args.max_loss,
               'date': time.strftime('%Y-%m-%d %H:%M'),
               'load_avg_1_5_15': list(os.getloadavg())}
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
                  weights, summary['pruned_params'], summary['date']))
    table = ('| mode | time (s) | speed-up vs PaddleSlim | ranking vs PaddleSlim (Spearman) |\n'
             '|---|---|---|---|\n' + '\n'.join(rows) + '\n')
    with open(os.path.join(args.out_dir, 'sensitivity_speed.md'), 'w') as f:
        f.write(header + table)
    write_json(os.path.join(args.out_dir, 'sensitivity_speed.json'), summary)
    print(table)


if __name__ == '__main__':
    run_main(main)
