"""Distillation against its undistilled twin, per student and seed (issue 16).

python benchmarks/distill_quality.py                      # everything (resumable)
python benchmarks/distill_quality.py --only teacher       # just train + score the teacher
python benchmarks/distill_quality.py --teacher_weights output/distill_quality_work/teacher/model_final

Students: the trained baseline (``--baseline_weights``) and the r578 checkpoint right after
pruning (``--r578_student``), both from a finished main job (by default ``make demo``'s:
output/pipeline, on dataset/builtin).  Every weights path a run needs and the dataset are
checked before anything is trained.  For each student and seed:
``twin`` (fine-tuned alone), ``l2`` and ``fine_grained`` (fine-tuned with the teacher, at the
pipeline's weight; ``l2@2``: at weight 2), all on the main job's fine-tuning schedule
(``--finetune_epochs``, the config's LR) with that seed.  Runs are named by loss and weight
(``r578_l2w2_seed0``).
The teacher (``--teacher_config``, default the 24-epoch x0.5 teacher) is trained once and
cached under ``--work_dir``/teacher, or taken from ``--teacher_weights``.  Before any student
is distilled, the teacher must beat the baseline's twin by ``--min_margin`` AP (else the
script stops and says so: a teacher below its student teaches nothing, as on 2026-11-30).

Every run is a stage of a main-job Pipeline in ``--work_dir`` (results.json; the same command
again skips the finished runs and resumes an interrupted training from its last epoch).  The
settings the finished runs depend on (:func:`settings_of`: not --seeds, --students, --kinds,
which only add runs) are recorded in ``--work_dir`` and ``--results``.json; other settings are
refused before any training.  Writes ``--results``.{json,md} (default
benchmarks/results/distill_quality; atomically; a partial ``--only`` run keeps the parts it
does not redo, :func:`merge_students`) with the CPU and its flags at the top; the
written findings below the .md's table (``## ...`` sections) are kept by a rerun, under a
heading that says so when the table has changed (:func:`kept_findings`).  Budget: one
training at a time; with OMP_NUM_THREADS=1 a student step took 1.6 s and a teacher step 3.1 s
on a shared AMD EPYC.  The last line says where the results went.
"""
import datetime
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppdet.utils.cli import (ArgsParser, check_choices, check_range,  # noqa: E402
                             command_line, missing_input, resume_on_rerun, run_main)
from ppdet.utils.fileio import atomic_write, check_output_dir, check_output_file  # noqa: E402
from ppdet.utils.settings_record import SETTINGS_KEY, check_settings_record  # noqa: E402

STUDENT_CONFIG = 'configs/builtin/yolov3_r18_builtin.yml'
TEACHER_CONFIG = 'configs/builtin/yolov3_r18x05_builtin_teacher_long.yml'
RESULTS = 'benchmarks/results/distill_quality'
KINDS = ('twin', 'l2', 'fine_grained')
LOSSES = ('l2', 'fine_grained')
# the inputs' defaults: what ``make demo`` (tools/pipeline.py) leaves behind
DATASET_DIR = 'dataset/builtin'
BASELINE_WEIGHTS = 'output/pipeline/baseline/model_final'
R578_STUDENT = 'output/pipeline/prune_r578/pruned_no_finetune'
# heads the hand-written findings below an earlier table (write_md) when the table changed
EARLIER_FINDINGS = '## Findings written for an earlier run'


def parse_kind(kind):
    """``twin``, a loss (``l2``: the pipeline's weight for it) or ``loss@weight`` (e.g.
    ``l2@1``: that loss at weight 1, its runs named ``l2w1``) -> (loss or None, weight or
    None).  Raises ValueError naming the choices."""
    loss, _, weight = kind.partition('@')
    if loss == 'twin' and not weight:
        return None, None
    if loss not in LOSSES:
        raise ValueError('unknown kind %r: choose twin, %s, or loss@weight (e.g. l2@1)'
                         % (kind, ', '.join(LOSSES)))
    try:
        return loss, (float(weight) if weight else None)
    except ValueError:
        raise ValueError('kind %r: the weight after @ must be a number' % kind)


def kind_label(kind, default_weights):
    """The run-name part of ``kind``: ``twin``, or the loss and its weight (``l2@2`` ->
    ``l2w2``; ``l2`` -> ``l2w10`` with ``default_weights['l2']`` 10), so that a run is never
    confused with one at another weight when the default changes."""
    loss, weight = parse_kind(kind)
    if loss is None:
        return 'twin'
    return '%sw%g' % (loss, default_weights[loss] if weight is None else weight)


def run_name(student, kind, seed):
    return '%s_%s_seed%d' % (student, kind, seed)


def finetune(pipe, student, weights, kind, seed):
    """One fine-tuning run of ``weights`` (a checkpoint; a pruned one brings its plan) on the
    fine-tuning schedule with ``seed``: alone (``twin``) or with the teacher (``kind``: a loss,
    or ``loss@weight``, see ``parse_kind``)."""
    from ppdet.slim.distill import DistillStep
    loss, weight = parse_kind(kind)
    if loss is not None and weight is None:
        weight = pipe.distill_weights[loss]
    name = run_name(student, kind_label(kind, pipe.distill_weights), seed)
    extra = ['seed=%d' % seed] + (['use_fine_grained_loss=true'] if loss == 'fine_grained'
                                  else [])
    cfg = pipe._finetune_cfg(extra)

    def prepare(t):
        t.load_weights(weights)
        if loss is not None:
            t.apply_step(DistillStep(pipe.teacher_config, pipe.results['teacher']['weights'],
                                     loss=loss, weight=weight, student_cfg=t.cfg))
    trained = pipe.train(name, cfg, prepare)
    info = {'student': student, 'kind': loss or 'twin', 'seed': seed}
    if loss is not None:
        info['distill_weight'] = weight
    pipe.evaluate(name, trained, cfg, extra=info, table_row=False)


def labels_in(results, students):
    """The run labels with a result for any of ``students``: twin, then the distilled runs
    (``l2w2``, ``fine_grainedw100`` ...) in name order."""
    found = set()
    for name, r in results.items():
        if isinstance(r, dict) and r.get('student') in students and 'AP' in r:
            found.add(name[len(r['student']) + 1:name.rindex('_seed')])
    return _twin_first(found)


def _twin_first(labels):
    return [k for k in ('twin',) if k in labels] + sorted(set(labels) - {'twin'})


def summarize(results, students, seeds):
    """Per student: each seed's AP per run label (twin, l2, fine_grained, l2w1 ...) and the
    means, with each distilled label's mean minus the twin's (AP x 100)."""
    out = {}
    labels = labels_in(results, students)
    for student in students:
        per_seed = {}
        for seed in seeds:
            aps = {k: results.get(run_name(student, k, seed), {}).get('AP') for k in labels}
            per_seed[seed] = {k: round(100 * v, 2) for k, v in aps.items() if v is not None}
        out[student] = {'per_seed': per_seed, 'mean': _means(per_seed, labels)}
    return out


def _means(per_seed, labels):
    """Each label's mean over the seeds of ``per_seed`` (only when every seed has it), and
    each distilled label's mean minus the twin's."""
    means = {}
    for k in labels:
        vals = [r[k] for r in per_seed.values() if k in r]
        if vals and len(vals) == len(per_seed):
            means[k] = round(sum(vals) / len(vals), 2)
    for k in labels:
        if k != 'twin' and k in means and 'twin' in means:
            means['%s_minus_twin' % k] = round(means[k] - means['twin'], 2)
    return means


def merge_students(old, new):
    """The students part of the results: ``old`` (an existing results file's, read back
    from JSON: seeds as strings) with ``new``'s runs added or replaced, per student, seed and
    label; seeds and students without a run are left out, the means computed again."""
    per_student = {}
    for part in (old or {}), new:
        for student, s in part.items():
            for seed, row in s['per_seed'].items():
                if row:
                    per_student.setdefault(student, {}).setdefault(int(seed), {}).update(row)
    out = {}
    for student, per_seed in per_student.items():
        per_seed = dict(sorted(per_seed.items()))
        labels = _twin_first({k for r in per_seed.values() for k in r})
        out[student] = {'per_seed': per_seed, 'mean': _means(per_seed, labels)}
    return out


def labels_in_summary(students):
    """The run labels present in a ``summarize`` result, twin first."""
    return _twin_first({k for s in students.values() for r in s['per_seed'].values() for k in r})


def weighted_labels_note(labels):
    """'`l2w2` = l2 at weight 2; ...' for the distilled runs' labels."""
    notes = []
    for label in labels:
        for loss in LOSSES:
            if label.startswith(loss + 'w'):
                notes.append('`%s` = %s at weight %s' % (label, loss, label[len(loss) + 1:]))
    return '; '.join(notes)


def distilled_note(labels, distill_weights):
    """The table caption's part on the distilled runs ('' when there are only twins)."""
    note = weighted_labels_note(labels)
    return '; %s (default weights now: %s)' % (note, distill_weights) if note else ''


def write_md(path, res):
    labels = labels_in_summary(res['students'])
    lines = ['# Distillation against its undistilled twin (built-in YOLOv3)', '',
             'CPU: %s' % res['cpu'], '', 'CPU flags: `%s`' % ' '.join(res['cpu_flags']), '',
             'Date: %s' % res.get('date', 'not recorded'), '',
             'Teacher: `%s` (%s), AP %s. Students fine-tuned %d epochs with each seed; twin = '
             'the same run without the teacher%s. COCO box AP x 100 on EvalDataset (dygraph).'
             % (res['teacher_config'], res['teacher_weights'],
                res.get('teacher_AP', 'not measured'), res['finetune_epochs'],
                distilled_note(labels, res['distill_weights'])), '']
    table = ['| student | seed | %s |' % ' | '.join(labels),
             '|---|---|%s' % ('---|' * len(labels))] if labels else \
        ['No student has been fine-tuned yet (`--only teacher`, or not run).']
    for student, s in res['students'].items():
        for seed, r in s['per_seed'].items():
            table.append('| %s | %s | %s |' % (student, seed,
                                               ' | '.join(str(r.get(k, '-')) for k in labels)))
        m = s['mean']
        if m:
            cells = [str(m.get(k, '-')) if k == 'twin' else '%s (%s)' % (
                m.get(k, '-'), '%+.2f' % m['%s_minus_twin' % k]
                if '%s_minus_twin' % k in m else '-') for k in labels]
            table.append('| %s | mean | %s |' % (student, ' | '.join(cells)))
    lines += table
    if res.get('stopped'):
        lines += ['', '**Stopped:** %s' % res['stopped']]
    lines += ['', 'command: `%s`' % res['command']]
    text = '\n'.join(lines) + '\n'
    if os.path.isfile(path):
        with open(path) as f:
            text += kept_findings(f.read(), [l for l in table if l.startswith('|')])
    atomic_write(path, lambda f: f.write(text))


def kept_findings(old, table):
    """The hand-written findings below the table of ``old`` (the .md a rerun replaces: its
    ``## ...`` sections), to append below the new ``table`` (its lines): kept as they are
    when the old table is the same, else kept under :data:`EARLIER_FINDINGS` with the table
    they were written for, so that they are never read as describing the new numbers."""
    if '\n## ' not in old:
        return ''
    head, prose = old[:old.index('\n## ') + 1], old[old.index('\n## ') + 1:]
    if [l for l in head.splitlines() if l.startswith('|')] == table or \
            prose.startswith(EARLIER_FINDINGS):
        return '\n' + prose
    old_table = [l for l in head.splitlines() if l.startswith('|')]
    return '\n'.join(['', EARLIER_FINDINGS, '',
                       'The sections below were written for an earlier run of this benchmark, '
                       'whose table (copied here) differs from the one at the top; they '
                       'describe the table below, not the one at the top:', '']
                     + old_table + ['', prose])


def check_inputs(args, students):
    """Refuse, before any training, a dataset or a weights path the run would need that is
    not there: the weights of ``students`` (names -> weights paths) and ``--teacher_weights``.
    """
    from ppdet.utils.checkpoint import weights_file
    if not os.path.isdir(args.dataset_dir):
        raise missing_input('--dataset_dir', args.dataset_dir, DATASET_DIR, 'the built-in dataset')
    if not os.path.isdir(os.path.join(args.dataset_dir, 'coco')):
        raise ValueError('--dataset_dir: %s has no coco/ folder (give the main job\'s '
                         'dataset_dir, the folder above coco/)' % args.dataset_dir)
    if not os.path.isfile(args.teacher_config):
        raise ValueError('--teacher_config: %s not found' % args.teacher_config)
    flags = {'baseline': ('--baseline_weights', BASELINE_WEIGHTS, 'the trained baseline'),
             'r578': ('--r578_student', R578_STUDENT, 'the r578-pruned baseline')}
    given = [flags[name] + (path,) for name, path in students.items()]
    if args.teacher_weights:
        given.append(('--teacher_weights', None, None, args.teacher_weights))
    for flag, default, what, path in given:
        if not os.path.isfile(weights_file(path)):
            raise missing_input(flag, path, default, what)


def summary_line(results, res):
    """The run's last line: where its results went, and the teacher's AP when known."""
    runs = sum(len(r) for s in res.get('students', {}).values()
               for r in s['per_seed'].values())
    return 'results: %s.json and %s.md (%d run%s scored, teacher AP %s%s)' % (
        results, results, runs, '' if runs == 1 else 's', res.get('teacher_AP', 'not measured'),
        '; stopped: the teacher is not good enough' if res.get('stopped') else '')


def check_seeds(seeds):
    """``--seeds``: each a valid random seed, checked before the teacher trains for hours
    (numpy's ``Seed must be between 0 and 2**32 - 1`` named no flag, after the teacher)."""
    for seed in seeds:
        check_range('--seeds', seed, 0, 2 ** 32 - 1, hint='the fine-tuning runs\' seeds')


def settings_of(args):
    """What the cached runs of ``--work_dir`` and the kept parts of ``--results`` depend on.
    Not --seeds, --students, --kinds or --only: they name runs, and more may be added."""
    def norm(path):
        return None if path is None else os.path.normpath(path)
    return {'config': norm(args.config or STUDENT_CONFIG), 'overrides': list(args.opt),
            'dataset_dir': norm(args.dataset_dir), 'finetune_epochs': args.finetune_epochs,
            'teacher_config': norm(args.teacher_config),
            'teacher_weights': norm(args.teacher_weights),
            'baseline_weights': norm(args.baseline_weights),
            'r578_student': norm(args.r578_student)}


def read_previous(path):
    """The results file a rerun keeps the parts of that it does not redo ({} when none)."""
    from ppdet.utils.fileio import read_json
    if not os.path.isfile(path):
        return {}
    try:
        return read_json(path)
    except ValueError as e:
        raise ValueError('--results: %s is not a results file (%s); give another --results'
                         % (path, e))


def check_settings(args, settings):
    """Refuse, before any training, a ``--work_dir`` or ``--results`` made with other
    settings: their finished runs would be reported as this run's."""
    read_previous(args.results + '.json')
    check_settings_record(os.path.join(args.work_dir, 'results.json'), settings,
                          'its finished runs (skipped as done)',
                          'give another --work_dir (or delete %s to start over)' % args.work_dir)
    check_settings_record(args.results + '.json', settings,
                          'the runs it holds that this run does not redo',
                          'give another --results')


def build_parser():
    parser = ArgsParser('distillation vs its twin, per student and seed', config_required=False)
    parser.add_argument('--work_dir', default='output/distill_quality_work',
                        help='each run\'s training and results.json: a rerun skips the '
                             'finished runs and resumes an interrupted one; the settings are '
                             'recorded there (other settings need another --work_dir)')
    parser.add_argument('--dataset_dir', default=DATASET_DIR,
                        help='the main job dataset_dir (its coco/ layout)')
    parser.add_argument('--baseline_weights', default=BASELINE_WEIGHTS,
                        help='the trained baseline, as make demo leaves it')
    parser.add_argument('--r578_student', default=R578_STUDENT,
                        help='the r578-pruned baseline before fine-tuning, as make demo '
                             'leaves it')
    parser.add_argument('--teacher_config', default=TEACHER_CONFIG,
                        help='the teacher, trained once into --work_dir/teacher (unless '
                             '--teacher_weights)')
    parser.add_argument('--teacher_weights', default=None,
                        help='a trained teacher (skips training it)')
    parser.add_argument('--students', default='baseline,r578',
                        help='comma-separated: baseline, r578 (more may be added later in '
                             'the same --work_dir)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1],
                        help='one fine-tuning run per seed, student and kind, each seed in '
                             '[0, 2**32 - 1] (more may be added later in the same --work_dir)')
    parser.add_argument('--finetune_epochs', type=int, default=3,
                        help='epochs of every fine-tuning run (twins and distilled)')
    from ppdet.pipeline.results_table import TEACHER_MIN_MARGIN
    parser.add_argument('--min_margin', type=float, default=100 * TEACHER_MIN_MARGIN,
                        help="AP x 100 the teacher must beat the baseline twin's mean by")
    parser.add_argument('--only', default=None, choices=['teacher', 'twins'],
                        help='teacher: train and score the teacher only; twins: only the '
                             'undistilled twins (they need no teacher: a second process can '
                             'run them while the first trains the teacher); the results file '
                             'keeps the parts not run')
    parser.add_argument('--kinds', default=','.join(KINDS),
                        help='runs per student and seed: twin, %s (at the pipeline weight), '
                             'or loss@weight (e.g. l2@1); runs are named by loss and weight '
                             '(l2w1)' % ', '.join(LOSSES))
    parser.add_argument('--results', default=RESULTS,
                        help='output path without extension (.json and .md are written); '
                             'e.g. output/distill_quality for a trial run')
    return parser


def check_args(parser, args, students):
    """Refuse bad input before a teacher trains for hours -> (the --students names, the
    --kinds); the settings are recorded in --work_dir and --results (:func:`check_settings`).
    """
    check_seeds(args.seeds)
    check_output_file(args.results + '.json', '--results')
    check_output_file(args.results + '.md', '--results')
    check_output_dir(args.work_dir, '--work_dir')
    names = args.students.split(',')
    check_choices('--students', names, list(students))
    kinds = [k for k in args.kinds.split(',') if k]
    for kind in kinds:
        try:
            parse_kind(kind)
        except ValueError as e:
            parser.error('--kinds: %s' % e)
    # the students this run fine-tunes: the baseline's twins decide whether the teacher is
    # good enough, whatever --students says
    needed = [] if args.only == 'teacher' else \
        names + ['baseline'] * (args.only is None and 'baseline' not in names)
    check_inputs(args, {n: students[n] for n in needed})
    check_settings(args, settings_of(args))
    return names, kinds


def main():
    parser = build_parser()
    args = parser.parse_args()
    students = {'baseline': args.baseline_weights, 'r578': args.r578_student}
    names, kinds = check_args(parser, args, students)
    from ppdet.benchmark.cpu import cpu_description, cpu_flags
    from ppdet.pipeline.main_job import Pipeline
    from ppdet.utils.fileio import write_json
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    pipe = Pipeline(args.config or STUDENT_CONFIG, work_dir=args.work_dir,
                    dataset_dir=args.dataset_dir, overrides=args.opt,
                    finetune_epochs=args.finetune_epochs, teacher_config=args.teacher_config,
                    teacher_weights=args.teacher_weights)
    res = {'teacher_config': args.teacher_config, 'finetune_epochs': args.finetune_epochs,
           'distill_weights': pipe.distill_weights, SETTINGS_KEY: settings_of(args),
           'cpu': cpu_description(), 'cpu_flags': cpu_flags()['flags'].split(),
           'date': datetime.datetime.now().strftime('%Y-%m-%d %H:%M'),
           'command': command_line('benchmarks/distill_quality.py')}

    def report():
        # read at each report: a second process (--only twins / teacher) may have written it
        previous = read_previous(args.results + '.json')
        if args.only and previous.get('stopped'):   # a part this run does not redo
            res['stopped'] = previous['stopped']
        res.update(teacher_part(pipe.results, previous))
        res['students'] = merge_students(previous.get('students'),
                                         summarize(pipe.results, names, args.seeds))
        res['seeds'] = sorted({s for st in res['students'].values() for s in st['per_seed']})
        write_json(args.results + '.json', res)
        write_md(args.results + '.md', res)

    def done():
        print(summary_line(args.results, res), flush=True)

    def run_all():
        if args.only == 'twins':
            for student in names:
                for seed in args.seeds:
                    pipe.stage('twin_%s_%d' % (student, seed), lambda st=student, s=seed:
                               finetune(pipe, st, students[st], 'twin', s))
            report()
            return done()
        pipe.stage('distill:teacher', pipe.train_teacher)
        report()
        if args.only == 'teacher':
            return done()
        for seed in args.seeds:
            pipe.stage('twin_baseline_%d' % seed, lambda s=seed: finetune(
                pipe, 'baseline', students['baseline'], 'twin', s))
        twin = summarize(pipe.results, ['baseline'], args.seeds)['baseline']['mean']['twin']
        if res['teacher_AP'] < twin + args.min_margin:
            res['stopped'] = ('the teacher (AP %.2f) does not beat the baseline twin (%.2f) by '
                              '%.1f: train it longer before distilling (a --teacher_config with '
                              'more epochs, or a teacher trained longer elsewhere as '
                              '--teacher_weights)' % (res['teacher_AP'], twin, args.min_margin))
            report()
            done()
            raise SystemExit(res['stopped'])
        for student in names:
            for seed in args.seeds:
                for kind in kinds:
                    label = kind_label(kind, pipe.distill_weights)
                    pipe.stage('%s_%s_%d' % (label, student, seed), lambda st=student, k=kind,
                               s=seed: finetune(pipe, st, students[st], k, s))
                    report()
        done()

    # Ctrl-C: the training's "resume with -r" is not this script's way (it has no -r)
    with resume_on_rerun('the finished runs are in %s' % pipe.results_path,
                         command_line('benchmarks/distill_quality.py'),
                         'this script takes no -r: an interrupted training goes on from its '
                         'last finished epoch by itself'):
        run_all()


def teacher_part(results, previous):
    """The teacher's weights and AP x 100 from the work dir's ``results``; before it is
    trained (``--only twins``), those of the ``previous`` results file (same settings)."""
    teacher = results.get('teacher')
    if teacher:
        return {'teacher_weights': teacher['weights'],
                'teacher_AP': round(100 * teacher['AP'], 2)}
    return {'teacher_weights': previous.get('teacher_weights', 'not trained'),
            **({'teacher_AP': previous['teacher_AP']} if 'teacher_AP' in previous else {})}


if __name__ == '__main__':
    run_main(main)
