"""The seed's compression tables on the built-in dataset, end to end, in one command.

python benchmarks/compression_table.py [-c CONFIG] [-o k=v ...] [--work_dir output/pipeline]
    [--threads 1 --repeats 20 --warmup 3] [--out_dir benchmarks/results] [--skip_pipeline]

The pipeline flags (-c, -o, --work_dir, --dataset_dir, --finetune_epochs,
--sensitivity_images) mean what they mean for tools/pipeline.py; give the same ones.

1. Runs the main job (ppdet.pipeline.main_job.Pipeline: resumable, every finished stage is
   skipped) unless --skip_pipeline.
2. Times every exported model listed in its results.json on the CPU runtimes (Paddle
   fp32 oneDNN = the ratios' baseline, Paddle oneDNN int8 for quantized rows, onnxruntime
   fp32 and int8 QDQ for fp32 rows, Paddle-Lite x86 as a correctness check), all
   interleaved in one process, batch 1 at the eval input size, after checking each
   runtime's detections against the row's Paddle fp32 model on a few eval images.
3. Writes compression.md, ap_vs_latency.png and latency.json under --out_dir.  latency.json
   records the run's settings (the rows' pipeline settings and the timing flags); an
   --out_dir holding a table of other ones is refused before step 1 (--overwrite replaces it).

A runtime that fails on a row shows as "FAILED: <reason>" in its cell and in the FAILED
line under the table, and the script exits with status 1.  A runtime that cannot exist on
this machine (onnxruntime not installed, no Paddle-Lite chroot: `make lite-env`) is
"not available here"; that is a failure only for runtimes named with --runtimes.
TensorRT and ARM need a GPU / an ARM device: compression.md says how to run them there.
"""
import os
import sys
import time

from ppdet.utils.cli import (ArgsParser, check_choices, check_range, command_line,
                             resume_on_rerun, run_main)
from ppdet.utils.fileio import check_output_dir

DEFAULT_CONFIG = 'configs/builtin/yolov3_r18_builtin.yml'
MODEL = 'yolov3'     # the tools/pipeline.py --model whose main job this script runs


# what the rows of a finished work dir are (--skip_pipeline): the job, its model and data;
# the other settings change how they were trained, not which they are
ROW_SETTINGS = ('model', 'config', 'overrides', 'dataset_dir')


def check_work_dir_settings(pipe, model, keys=None):
    """Refuse a work dir whose results.json records other settings than ``pipe``'s (the
    record :meth:`~ppdet.pipeline.main_job.Pipeline.check_settings` writes; ``keys``: only
    these), without writing anything: the fix named is this script's (it has no --fresh)."""
    from ppdet.pipeline import main_job
    old = pipe.results.get(main_job.SETTINGS_KEY)
    if old is None:
        return
    now = pipe.settings(model)
    diff = main_job.differing_settings(old, now, keys)
    if diff:
        raise ValueError(
            '--work_dir %s was started with other settings: %s (this run: %s); its rows would '
            "be reported as this run's: give another --work_dir or the settings it was started "
            'with, or start it over (python tools/pipeline.py --fresh --work_dir %s with this '
            "run's -c, -o and flags), then run this script again" % (
                pipe.work_dir, main_job.settings_text(old, diff),
                main_job.settings_text(now, diff), pipe.work_dir))


# the flags of the timing and the agreement check the table's numbers depend on
TIMING_SETTINGS = ('threads', 'repeats', 'warmup', 'lite_repeats', 'check_images',
                   'calib_images', 'match_score', 'match_fraction')


def run_settings(args, pipe, runtimes):
    """What the table's numbers depend on (recorded in latency.json): the rows' pipeline
    settings (the work dir's record when it has one: with --skip_pipeline the rows are its,
    whatever this run's pipeline flags; else this run's), the runtimes and the timing flags;
    not the paths of --work_dir and --out_dir."""
    from ppdet.utils.settings_record import SETTINGS_KEY
    out = dict(pipe.results.get(SETTINGS_KEY) or pipe.settings(MODEL))
    out.update({k: getattr(args, k) for k in TIMING_SETTINGS})
    out['runtimes'] = sorted(runtimes)
    return out


def recorded_settings(latency):
    """latency.json's record of its run (:func:`run_settings`); for one written before the
    record (the committed one), its runtimes and timing flags (its sweep's ``settings``)."""
    from ppdet.utils.settings_record import SETTINGS_KEY
    if not isinstance(latency, dict):
        raise TypeError('not a latency dict')
    if SETTINGS_KEY in latency:
        return latency[SETTINGS_KEY]
    sweep = dict(latency['settings'])
    tolerance = sweep.pop('tolerance', {})
    sweep.update({k: tolerance[name] for k, name in (('match_score', 'score_thresh'),
                                                     ('match_fraction', 'min_matched_fraction'))
                  if name in tolerance})
    out = {k: sweep[k] for k in TIMING_SETTINGS if k in sweep}
    out['runtimes'] = sorted(latency['runtimes'])
    return out


def run_pipeline(pipe, argv=None):
    """``pipe.run()``; Ctrl-C says where the done stages are and that the same command
    resumes (as tools/pipeline.py does), exit 130."""
    with resume_on_rerun('the done stages are in %s' % pipe.results_path,
                         command_line('benchmarks/compression_table.py', argv),
                         'finished stages are skipped, a training goes on from its last '
                         'finished epoch'):
        pipe.run()


def eval_images(pipe, count):
    """The first ``count`` eval images (sorted by path) of the pipeline's dataset, as RGB."""
    from ppdet.data import build_dataset
    from ppdet.deploy import decode_image
    paths = sorted(build_dataset(pipe.cfg(), 'EvalDataset').get_imid2path().values())
    if not paths:
        raise ValueError('the eval set of %s is empty' % pipe.config)
    return [decode_image(p) for p in paths[:count]], paths[:count]


def main(argv=None):
    from ppdet.benchmark.runtimes import RUNTIMES
    from ppdet.pipeline.main_job import FINETUNE_EPOCHS
    parser = ArgsParser('reproduce the seed\'s compression tables on the built-in dataset',
                        config_required=False)
    parser.add_argument('--work_dir', default='output/pipeline',
                        help='the main job\'s work dir (as tools/pipeline.py): its results.json '
                             'lists the rows timed; one started with other settings is refused')
    parser.add_argument('--dataset_dir', default='dataset/builtin',
                        help='where the built-in dataset is (generated there by the pipeline\'s '
                             'data stage); the check and calibration images are its eval set')
    parser.add_argument('--finetune_epochs', type=int, default=FINETUNE_EPOCHS,
                        help='pipeline: fine-tuning epochs after pruning / for distillation '
                             'and QAT (as tools/pipeline.py)')
    parser.add_argument('--sensitivity_images', type=int, default=40,
                        help='pipeline: eval images per sensitivity probe (fast mode)')
    parser.add_argument('--skip_pipeline', action='store_true',
                        help='only report on the existing work_dir/results.json')
    parser.add_argument('--threads', type=int, default=1, help='CPU threads per runtime')
    parser.add_argument('--repeats', type=int, default=20, help='interleaved timing rounds')
    parser.add_argument('--warmup', type=int, default=3, help='untimed runs per configuration')
    parser.add_argument('--lite_repeats', type=int, default=5, help='timed Paddle-Lite x86 runs')
    parser.add_argument('--check_images', type=int, default=8,
                        help='eval images for the agreement check (the first one is timed)')
    parser.add_argument('--calib_images', type=int, default=8,
                        help='eval images calibrating onnxruntime int8 (taken after the '
                             'check images; when the eval set has too few, the check images '
                             'calibrate)')
    parser.add_argument('--match_score', type=float, default=0.3,
                        help='agreement check: compare detections with at least this score')
    parser.add_argument('--match_fraction', type=float, default=0.9,
                        help='agreement check: share of detections that must match')
    parser.add_argument('--runtimes', default=None,
                        help='comma-separated subset of %s (default: all; one that cannot '
                             'exist on this machine is reported as not available here). '
                             'Runtimes named here are required: if one cannot run, it is a '
                             'failure' % ', '.join(RUNTIMES))
    parser.add_argument('--out_dir', default='benchmarks/results',
                        help='where compression.md, ap_vs_latency.png and latency.json go; one '
                             'holding a table of other settings is refused')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace the table of a run with other settings (config, -o, '
                             'dataset, pipeline flags, runtimes, timing and check flags) in '
                             '--out_dir')
    args = parser.parse_args(argv)
    from ppdet.benchmark.compression_report import failure_summary, write_compression_report
    from ppdet.benchmark.latency_sweep import latency_sweep, table_rows
    from ppdet.pipeline.main_job import Pipeline
    from ppdet.utils.fileio import read_json
    required = [r for r in (args.runtimes or '').split(',') if r]
    runtimes = required or list(RUNTIMES)
    check_choices('--runtimes', runtimes, list(RUNTIMES))
    for flag, low in (('threads', 1), ('repeats', 1), ('check_images', 1), ('warmup', 0),
                      ('lite_repeats', 1), ('calib_images', 0), ('sensitivity_images', 1)):
        check_range('--' + flag, getattr(args, flag), low)
    if args.calib_images == 0 and 'onnx_int8' in runtimes:
        # it calibrated on the check images instead, without a word
        raise ValueError('--calib_images 0: onnxruntime int8 (onnx_int8, in --runtimes) needs '
                         'calibration images; give 1 or more (default 8), or --runtimes '
                         'without onnx_int8')
    check_range('--match_score', args.match_score, 0.0, 1.0, 'a detection score')
    check_range('--match_fraction', args.match_fraction, 0.0, 1.0,
                'the share of detections that must match')
    check_output_dir(args.out_dir, '--out_dir')
    check_output_dir(args.work_dir, '--work_dir')
    pipe = Pipeline(args.config or DEFAULT_CONFIG, work_dir=args.work_dir,
                    dataset_dir=args.dataset_dir, overrides=args.opt,
                    finetune_epochs=args.finetune_epochs,
                    sensitivity_images=args.sensitivity_images)
    tic = time.time()
    # as tools/pipeline.py: a work dir started with other settings is refused (its done
    # stages would be skipped, or its rows timed, and reported as this run's), with
    # --skip_pipeline too
    if not args.skip_pipeline:
        pipe.check_inputs()      # every config and flag checked first
    check_work_dir_settings(pipe, MODEL, ROW_SETTINGS if args.skip_pipeline else None)
    # before the pipeline's hours: a run with other settings would replace the committed table
    from ppdet.utils.settings_record import SETTINGS_KEY, check_results_overwrite
    settings = run_settings(args, pipe, runtimes)
    check_results_overwrite(os.path.join(args.out_dir, 'latency.json'), settings,
                            args.overwrite, '--out_dir', recorded_settings)
    if not args.skip_pipeline:
        pipe.check_settings(MODEL)      # records them when the work dir is started
        print('== pipeline (%s; finished stages are skipped)' % args.work_dir, flush=True)
        run_pipeline(pipe, argv)
    results_path = os.path.join(args.work_dir, 'results.json')
    if not os.path.isfile(results_path):
        raise FileNotFoundError('%s not found: run without --skip_pipeline (or '
                                'tools/pipeline.py) first' % results_path)
    results = read_json(results_path)
    rows = table_rows(results)
    if not rows:
        raise ValueError('%s has no table rows yet (no evaluated model)' % results_path)
    images, _ = eval_images(pipe, args.check_images + args.calib_images)
    check = images[:args.check_images]
    calib = images[args.check_images:] or check
    print('== latency: %d rows (%s), runtimes %s, %d check + %d calibration images' % (
        len(rows), ', '.join(n for n, _ in rows), ', '.join(runtimes), len(check), len(calib)),
        flush=True)
    latency = latency_sweep(rows, check, runtimes=runtimes, required=required,
                            threads=args.threads, warmup=args.warmup, repeats=args.repeats,
                            calib_images=calib, lite_repeats=args.lite_repeats,
                            tolerance={'score_thresh': args.match_score,
                                       'min_matched_fraction': args.match_fraction},
                            progress=lambda m: print(m, flush=True))
    latency['command'] = command_line('benchmarks/compression_table.py', argv)
    latency['results_json'] = results_path
    latency[SETTINGS_KEY] = settings
    paths = write_compression_report(results, latency, args.out_dir)
    with open(paths['md']) as f:
        print(f.read())
    print('wrote %s (%.0f s)' % (', '.join(paths.values()), time.time() - tic))
    failed = failure_summary(latency)
    if failed:  # the report is written, but a table with a failed cell is not a result
        sys.stderr.write('error: %s\n' % failed)
        sys.exit(1)


if __name__ == '__main__':
    run_main(main)
