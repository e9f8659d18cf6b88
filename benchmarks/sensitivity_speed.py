"""Fast sensitivity analysis vs the naive full loop, side by side in one run.

python benchmarks/sensitivity_speed.py -c configs/builtin/yolov3_r18_builtin.yml \
    -o weights=output/pipeline/baseline/model_final [--eval_images 40 --max_loss 0.5]

Full = PaddleSlim's loop: every parameter x every ratio evaluated on the whole eval set.
Fast = the first N eval images, backbone features reused between probes, early stop
past --max_loss.  Reports both wall times, their ratio and the Spearman correlation of
the parameter rankings (mean loss over the ratios both probed).
"""
import os
import time

from ppdet.utils.cli import ArgsParser, parse_and_load, run_main


def main():
    parser = ArgsParser('benchmark fast vs full sensitivity analysis')
    parser.add_argument('--eval_images', type=int, default=40)
    parser.add_argument('--max_loss', type=float, default=0.5)
    parser.add_argument('--ratios', default='0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9')
    parser.add_argument('--out_dir', default='benchmarks/results')
    parser.add_argument('--metric', default=None,
                        help="value of the config's metric the loss is measured on (default: "
                             "its primary value; as in slim/sensitive)")
    args, cfg = parse_and_load(parser)
    from ppdet.slim.pruning_job import run_sensitivity
    from ppdet.slim.sensitivity import spearman
    from ppdet.utils.fileio import write_json
    ratios = [float(r) for r in args.ratios.split(',')]
    os.makedirs(args.out_dir, exist_ok=True)
    runs = {}
    for name, kw in (('fast', dict(eval_images=args.eval_images, max_loss=args.max_loss,
                                   cache_backbone=True)),
                     ('full', dict(eval_images=None, max_loss=None, cache_backbone=False))):
        path = os.path.join(args.out_dir, 'sensitivity_%s.json' % name)
        if os.path.exists(path):
            os.remove(path)  # time a complete run, not a resumed one
        tic = time.time()
        sens = run_sensitivity(cfg, weights=cfg.get('weights'), ratios=ratios,
                               sensitivities_file=path, progress=True, metric=args.metric,
                               **kw)
        runs[name] = {'seconds': time.time() - tic, 'sens': sens}
    rho = spearman(runs['fast']['sens'], runs['full']['sens'])
    speedup = runs['full']['seconds'] / runs['fast']['seconds']
    summary = {'full_s': round(runs['full']['seconds'], 1),
               'fast_s': round(runs['fast']['seconds'], 1), 'speedup': round(speedup, 2),
               'spearman': round(float(rho), 3), 'eval_images_fast': args.eval_images,
               'max_loss_fast': args.max_loss}
    from ppdet.benchmark.cpu import cpu_description
    summary.update(cpu=cpu_description(), config=args.config, weights=cfg.get('weights'),
                   ratios=ratios, date=time.strftime('%Y-%m-%d %H:%M'))
    header = ('Measured on %s, %s, weights %s, ratios %s, %s.\n\n' % (
        summary['cpu'], args.config, summary['weights'], args.ratios, summary['date']))
    table = ('| mode | time (s) | ranking vs full (Spearman) |\n|---|---|---|\n'
             '| full (all images, no reuse) | %.1f | 1.000 |\n'
             '| fast (%d images, backbone reuse, early stop at %.2f) | %.1f | %.3f |\n\n'
             'speed-up: %.2fx' % (summary['full_s'], args.eval_images, args.max_loss,
                                  summary['fast_s'], summary['spearman'], speedup))
    with open(os.path.join(args.out_dir, 'sensitivity_speed.md'), 'w') as f:
        f.write(header + table + '\n')
    write_json(os.path.join(args.out_dir, 'sensitivity_speed.json'), summary)
    print(table)


if __name__ == '__main__':
    run_main(main)
