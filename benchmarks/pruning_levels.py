"""Why a sensitivity-derived pruning plan wins or loses against a uniform one: two
measurements on a finished main job (``tools/pipeline.py``, its prune stages done).

1. AP by object size (COCO small / medium / large) of every fine-tuned pruning row, mean over
   its seeds, from the row's ``bbox.json``.
2. The baseline with one YOLO branch at a time pruned as each derived plan prunes it (no
   fine-tuning, all eval images), against the sum of the single-conv losses of that branch
   in the sensitivity table: do single-conv sensitivities add up?

python benchmarks/pruning_levels.py --work_dir output/pipeline --dataset_dir dataset/builtin
"""
import collections
import contextlib
import io
import os
import re
import time

from ppdet.utils.cli import ArgsParser, command_line, run_main

DEFAULT_CONFIG = 'configs/builtin/yolov3_r18_builtin.yml'
SIZES = ('AP', 'APs', 'APm', 'APl')  # COCOeval.stats[0], [3], [4], [5]


def ap_by_size(anno_file, bbox_file):
    """COCO AP by object size, on the ground truth the project's COCO metric scores
    (``load_coco_gt``: checked, and the boxes the reader drops dropped too), so that the AP
    column equals the pipeline's."""
    from pycocotools.cocoeval import COCOeval
    from ppdet.metrics.coco_utils import load_coco_gt
    gt = load_coco_gt(anno_file)
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(gt, gt.loadRes(bbox_file), 'bbox')
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return dict(zip(SIZES, (float(ev.stats[i]) for i in (0, 3, 4, 5))))


def sizes_of_rows(pipe, anno_file):
    """{plan at cut: {AP, APs, APm, APl: mean over seeds, seeds: n}}."""
    groups = collections.OrderedDict()
    for name, row in pipe.results.items():
        if not (isinstance(row, dict) and row.get('plan') and 'AP' in row):
            continue
        bbox = pipe.path(name, 'bbox.json')
        key = '%s at %s' % (row['plan'], row['cut_of'])
        groups.setdefault(key, []).append(ap_by_size(anno_file, bbox))
    return collections.OrderedDict(
        (k, dict({s: sum(r[s] for r in rows) / len(rows) for s in SIZES}, seeds=len(rows)))
        for k, rows in sorted(groups.items()))


def branch_of(param):
    """The branch a prunable conv belongs to: YOLOv3's ``yolo_block.N`` (one per output
    scale), else the first two parts of its name (RetinaNet's ``neck.lateral_convs``,
    ``head.cls_tower``), a grouping every family's names allow (YOLOv3's alone made a
    RetinaNet work dir fail)."""
    m = re.match(r'(yolo_block\.\d+)\.', param)
    return m.group(1) if m else '.'.join(param.split('.')[:2])


def branches_alone(pipe):
    """The baseline with each branch pruned alone by each derived plan, no fine-tuning."""
    from ppdet.engine import Trainer
    from ppdet.slim.prune import PrunePlan
    from ppdet.slim.pruning_job import prune_trainer
    from ppdet.slim.sensitivity import load_sensitivities
    from ppdet.utils.model_stats import config_input_size
    res = pipe.results
    sens = load_sensitivities(res['sensitivity']['file'])
    base = res['baseline']['AP']
    out = collections.OrderedDict()
    for preset, plans in sorted(res['prune_plans'].items()):
        derived = plans['derived'].get('ratios')
        if not derived:
            continue
        branches = sorted({branch_of(n) for n in derived})
        for branch in branches:
            part = {n: r for n, r in derived.items() if branch_of(n) == branch}
            cfg = pipe.cfg()
            trainer = Trainer(cfg, mode='eval')
            trainer.load_weights(res['baseline_weights'])
            prune_trainer(trainer, PrunePlan(part, 'l1_norm', config_input_size(cfg)))
            with contextlib.redirect_stdout(io.StringIO()):
                ap = trainer.evaluate().primary
            # each conv alone: the loss at the first probed ratio at or above its ratio
            alone = {n: min((l for q, l in sens[n].items() if q >= r - 1e-6), default=0.0)
                     for n, r in part.items()}
            out['%s at %s' % (branch, preset)] = {
                'ratios': part, 'AP': ap, 'loss': (base - ap) / base,
                'single_conv_losses': alone, 'sum_of_single_losses': sum(alone.values())}
    return out


def work_dir_config(args):
    """The config to read ``--work_dir`` with: ``-c`` if given, else the one its results.json
    records (tools/pipeline.py's settings record), else the default.  A ``-c`` other than the
    recorded one is refused: its weights and plans are that model's (another family printed
    the first table, then failed on the weights)."""
    from ppdet.pipeline.main_job import SETTINGS_KEY
    from ppdet.utils.fileio import read_json
    path = os.path.join(args.work_dir, 'results.json')
    made_with = (read_json(path).get(SETTINGS_KEY) or {}).get('config') \
        if os.path.isfile(path) else None
    if args.config and made_with and os.path.abspath(args.config) != os.path.abspath(made_with):
        raise ValueError('-c %s: --work_dir %s was made with -c %s (its weights and pruning '
                         'plans are that model\'s): give -c %s, or leave -c out'
                         % (args.config, args.work_dir, made_with, made_with))
    return args.config or made_with or DEFAULT_CONFIG


def main(argv=None):
    parser = ArgsParser('per-size AP of the pruning rows and branch-alone pruning losses',
                        config_required=False)
    parser.add_argument('--work_dir', default='output/pipeline',
                        help='the tools/pipeline.py work dir (its prune stages done)')
    parser.add_argument('--dataset_dir', default='dataset/builtin',
                        help='where the built-in dataset was generated')
    parser.add_argument('--out', default='benchmarks/results/pruning_levels.json',
                        help='the JSON written (its folder is made if missing)')
    args = parser.parse_args(argv)
    from ppdet.utils.fileio import check_output_file
    check_output_file(args.out, '--out')   # before minutes of evaluation
    if not os.path.isdir(args.work_dir):
        raise ValueError('--work_dir %s does not exist: give the work dir of a tools/pipeline.py '
                         'run with its prune stages done' % args.work_dir)
    from ppdet.pipeline.main_job import Pipeline
    pipe = Pipeline(work_dir_config(args), work_dir=args.work_dir,
                    dataset_dir=args.dataset_dir, overrides=args.opt)
    if 'prune_plans' not in pipe.results:
        raise ValueError('%s has no pruning plans: run tools/pipeline.py --stages prune first'
                         % pipe.results_path)
    anno = os.path.join(args.dataset_dir, 'coco', pipe.cfg()['EvalDataset']['anno_path'])
    if not os.path.isfile(anno):     # before the first table (was [Errno 2] naming no flag)
        raise ValueError('--dataset_dir: %s not found (the eval annotations): give the '
                         '--dataset_dir the pipeline ran with (the folder above coco/), or '
                         'generate the built-in dataset there: python tools/gen_dataset.py '
                         '--output_dir %s' % (anno, args.dataset_dir))
    sizes = sizes_of_rows(pipe, anno)
    print('| plan | seeds | AP | APs | APm | APl |\n|---|---|---|---|---|---|')
    for k, s in sizes.items():
        print('| %s | %d | %.3f | %.3f | %.3f | %.3f |' % ((k, s['seeds']) +
                                                         tuple(s[x] for x in SIZES)))
    alone = branches_alone(pipe)
    print('\n| branch pruned alone | AP | loss | sum of its convs\' single losses |\n'
          '|---|---|---|---|')
    for k, a in alone.items():
        print('| %s | %.3f | %.1f%% | %.1f%% |' % (k, a['AP'], 100 * a['loss'],
                                                  100 * a['sum_of_single_losses']))
    from ppdet.benchmark.cpu import cpu_description, cpu_flags
    from ppdet.utils.fileio import write_json
    write_json(args.out, {
        'baseline_AP': pipe.results['baseline']['AP'], 'ap_by_size': sizes,
        'branches_alone': alone, 'date': time.strftime('%Y-%m-%d %H:%M %Z'),
        'command': command_line('benchmarks/pruning_levels.py', argv),
        'cpu': cpu_description(), 'cpu_flags': cpu_flags()})
    print('written to %s' % args.out)


if __name__ == '__main__':
    run_main(main)
