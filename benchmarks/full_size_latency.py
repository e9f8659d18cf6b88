"""The full-size latency table: YOLOv3-MobileNetV1 at 320/416/608, YOLOv3-R34 and
R50vd-DCN at 608 x baseline / sensity / r578 / int8 / r578 + int8 x Paddle oneDNN and
onnxruntime (fp32 and int8) x 1 and 2 threads, end to end with the pre / inference / post split;
``--grid families``: BlazeFace (+ Lite) at 640, RetinaNet and FCOS R50-FPN at 800 x baseline /
uniform_p40 (40% of every prunable conv's filters) / int8 / pruned + int8.

python benchmarks/full_size_latency.py                 # everything (build, then time)
python benchmarks/full_size_latency.py --quick         # MobileNetV1 at 320 and 608, 1 thread
python benchmarks/full_size_latency.py --grid families --out_dir benchmarks/results/families
python benchmarks/full_size_latency.py --stage build   # build/export/quantize only (any load)
OMP_NUM_THREADS=1 python benchmarks/full_size_latency.py --quick --stage time
python benchmarks/full_size_latency.py --quick --stage lite   # Paddle-Lite: ARM .nb, x86 .nb = Paddle

Models are random-weight but their heads are set up like a trained detector's (see
ppdet/benchmark/full_size.py: --candidates pairs pass the NMS score threshold on the timed photo),
exported with pre-processing fused into the graph; int8 = abs_max PTQ on six scikit-image
photos, run with oneDNN int8 kernels.  Builds are cached in --work_dir (manifest.json).
Results: --out_dir/full_size_latency[_quick].{json,md}, with the CPU's flags and the load,
and .png: Paddle's rows (fp32, int8, bf16) as speed-up bars with the goals
(benchmarks/full_size_plot.py draws several CPUs' tables in one chart);
--stage lite: --out_dir/paddle_lite_check[_quick].{json,md} (ppdet/benchmark/full_size_lite.py).
--out_dir defaults to output/full_size_latency (not committed): the committed tables are
written only with --out_dir benchmarks/results.  A results file records its run's grid,
strategies, runtimes and threads; an --out_dir holding another run's is refused (--overwrite
replaces it).
"""
import collections
import os
import sys
import time

from ppdet.utils.cli import HelpFormatter, command_line, run_main

OUT_DIR = 'output/full_size_latency'


def build_parser():
    import argparse
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=HelpFormatter)
    p.add_argument('--quick', action='store_true',
                   help='MobileNetV1 at 320 and 608 only, 1 thread, 10 rounds')
    p.add_argument('--stage', choices=['all', 'build', 'time', 'lite'], default='all',
                   help='lite: no timing; each built row converted for ARM (paddle_lite_opt) '
                        'and each fp32 row\'s x86 .nb checked against Paddle Inference (needs '
                        'make lite-env; ppdet/benchmark/full_size_lite.py)')
    p.add_argument('--grid', default=None,
                   help='comma-separated CONFIG:SIZE pairs instead of the full / quick grid, '
                        'e.g. yolov3_r34:608 (configs: %s), or "families" (BlazeFace, '
                        'BlazeFace-Lite, RetinaNet, FCOS at their deployment sizes)'
                        % ', '.join(_configs()))
    p.add_argument('--work_dir', default='output/full_size_build',
                   help='where the rows are built and cached (manifest.json)')
    p.add_argument('--out_dir', default=OUT_DIR,
                   help='where the result files are written (the committed tables: '
                        'benchmarks/results); one holding another run\'s results is refused')
    p.add_argument('--overwrite', action='store_true',
                   help='replace the result files of another run (other grid, strategies, '
                        'runtimes or threads) in --out_dir')
    p.add_argument('--threads', default=None, help='comma-separated (default 1,2; quick: 1)')
    p.add_argument('--rounds', type=int, default=None,
                   help='timed rounds (default 20; quick: 10)')
    p.add_argument('--warmup', type=int, default=3, help='untimed runs of each configuration')
    p.add_argument('--pause_s', type=float, default=None,
                   help='sleep before each timed run (default 0.05 s at 1 thread, 0.3 s at 2 or '
                        'more: Intel OpenMP\'s workers spin 200 ms after a run and would steal '
                        'the next configuration\'s cores); 0 times the rows as a video stream '
                        'runs them, back to back (1 thread: measured 7.34x against 6.76x with '
                        '0.05 s for r578@32 + int8 at 320)')
    p.add_argument('--candidates', type=int, default=500,
                   help='(box, class) pairs above the NMS score threshold on the timed photo '
                        '(0: none, an NMS with nothing to sort)')
    p.add_argument('--runtimes', default='paddle,onnx,onnx_int8',
                   help='paddle (fp32 and oneDNN int8 rows), onnx (onnxruntime fp32), onnx_int8 '
                        '(onnxruntime static QDQ int8 of the fp32 ONNX export), '
                        'paddle_group_norm (a model with GroupNorm once more on Paddle, '
                        'without running it as oneDNN ops: the twin of that rewrite), '
                        'paddle_bf16 (every fp32 row once more with oneDNN bf16 kernels: a '
                        'CPU with AVX512-BF16 or AMX-BF16; refused elsewhere), '
                        'paddle_onednn_reduce (a model with the NMS candidate bound once more '
                        'with its maximum on oneDNN\'s reduction: the twin of that rewrite, '
                        'ppdet/deploy/onednn_reduce.py)')
    p.add_argument('--strategies', default=None,
                   help='baseline, the seed presets (r578, sensity: YOLOv3 only) or '
                        'uniform_pNN (NN%% of every prunable conv\'s filters, any family); '
                        'NAME@N rounds the kept channels down to multiples of N; a seed '
                        'preset with another family in --grid is refused (default: YOLOv3 '
                        'baseline,sensity,r578,r578@8,r578@32; the other families '
                        'baseline,uniform_p40,uniform_p40@32)')
    p.add_argument('--int8_outputs', default='r578,uniform_p40@32',
                   help='strategies that also get an int8 row with the output convs '
                        'quantized (PTQ keeps them fp32 by default, for accuracy): what '
                        'those fp32 convs cost')
    p.add_argument('--int8_residual_adds', action='store_true',
                   help='every int8 row also quantizes the residual adds oneDNN cannot fold '
                        'into a conv (BlazeFace blocks; ppdet/slim/residual_adds.py); use a '
                        'work_dir of its own')
    p.add_argument('--onednn_profile', action='store_true',
                   help='also list, per int8 row, the oneDNN primitives by data type '
                        '(ONEDNN_VERBOSE in a child process): what still runs in fp32; per '
                        'onnxruntime int8 row, its kernels the same way (onnxruntime\'s '
                        'profiler: ppdet/benchmark/onnx_ops.py); and, '
                        'per pruned row (fp32 and int8), the speed-up ceiling of its pruning '
                        'plan (the layers it leaves alone keep their time: ppdet/benchmark/'
                        'pruning_ceiling.py); with the onnx runtime timed, per fp32 pruned '
                        'row, both runtimes\' conv kernels by kind and the time around them '
                        '(why one reaches a speed-up the other misses: ppdet/benchmark/'
                        'runtime_kernels.py)')
    p.add_argument('--op_profile', action='store_true',
                   help='also split, per fused Paddle row, one pass into the ops before the '
                        'first conv, the convs, the other network ops, the ops after the last '
                        'conv (decoding, NMS) and the time outside the ops (Paddle\'s '
                        'profiler in a child process: ppdet/benchmark/op_profile.py): where '
                        'the time the convs do not take goes')
    p.add_argument('--profile_passes', type=int, default=5,
                   help='oneDNN and op profiles: each primitive\'s / op\'s fastest time over '
                        'this many passes')
    p.add_argument('--lite_check', action='store_true',
                   help='after timing, also the --stage lite check, as a section of the table')
    p.add_argument('--note', default='', help='a line written under the header (e.g. the load)')
    return p


def check_args(args):
    """Refuse a bad flag before minutes of building or timing, and before anything is
    written: the counts, the pause, an --out_dir or --work_dir that cannot be one, a
    --stage time / lite without a build, --stage lite / --lite_check without Paddle-Lite."""
    from ppdet.utils.cli import check_range
    from ppdet.utils.fileio import check_output_dir
    check_range('--rounds', args.rounds, 1, hint='timed rounds; leave it out for the default')
    check_range('--warmup', args.warmup, 0, hint='untimed runs of each configuration')
    check_range('--pause_s', args.pause_s, 0, hint='seconds of sleep before each timed run; '
                                                   'leave it out for the default')
    check_range('--candidates', args.candidates, 0,
                hint='(box, class) pairs above the NMS score threshold; 0: none')
    check_range('--profile_passes', args.profile_passes, 1,
                hint='passes each primitive\'s / op\'s fastest time is taken over')
    if args.stage in ('all', 'build'):
        check_output_dir(args.work_dir, '--work_dir')
    else:
        manifest = os.path.join(args.work_dir, 'manifest.json')
        if not os.path.isfile(manifest):
            raise ValueError('--stage %s: nothing built in --work_dir %s (no manifest.json): run '
                             '--stage build (or all) first with the same --work_dir'
                             % (args.stage, args.work_dir))
    if args.stage == 'lite' or (args.lite_check and args.stage != 'build'):
        from ppdet.deploy.lite import require_lite_env
        require_lite_env()      # before the rows are checked and timed, not after
    if args.stage != 'build':
        check_output_dir(args.out_dir, '--out_dir')


def parse_threads(text):
    """``'1,2'`` -> [1, 2]; a count that is not a whole number of 1 or more is refused."""
    from ppdet.utils.cli import parse_numbers
    threads = parse_numbers('--threads', text, int, example='1,2')
    if min(threads) < 1:
        raise ValueError('--threads %s: each thread count must be 1 or more' % text)
    return threads


def main(argv=None):
    args = build_parser().parse_args(argv)
    command = command_line('benchmarks/full_size_latency.py', argv)
    from ppdet.benchmark.full_size import (FULL_GRID, QUICK_GRID, build_rows, check_runtimes,
                                           format_table, time_rows)
    if args.stage in ('all', 'time'):
        check_runtimes(args.runtimes.split(','))      # before minutes of building
    from ppdet.benchmark.full_size import check_strategy
    for name in args.int8_outputs.split(','):
        if name:
            check_strategy(name)
    check_args(args)
    grid = parse_grid(args.grid) if args.grid else (QUICK_GRID if args.quick else FULL_GRID)
    threads = parse_threads(args.threads or ('1' if args.quick else '1,2'))
    rounds = args.rounds if args.rounds is not None else (10 if args.quick else 20)
    strategies = strategies_for(grid, args.strategies)
    stem_tail = '_quick' if args.quick else ''
    settings = run_settings(grid, strategies, args.runtimes.split(','), threads, args.stage)
    if args.stage != 'build':      # before minutes of building: the results go nowhere else
        check_results_file(os.path.join(args.out_dir, '%s%s.json' % (
            'paddle_lite_check' if args.stage == 'lite' else 'full_size_latency', stem_tail)),
            settings, args.overwrite)
    from ppdet.benchmark.cpu import cpu_description, cpu_flags
    from ppdet.data.sample_photos import face_photos, no_face_photos
    from ppdet.utils.fileio import atomic_write, write_json
    photos = dict(face_photos())
    photos.update(no_face_photos())
    images = [photos[k] for k in sorted(photos)]
    if args.stage in ('all', 'build'):
        for config_name, size in grid:
            manifest = build_rows(args.work_dir, images, grid=((config_name, size),),
                                  candidates=args.candidates, timing_image=photos['astronaut'],
                                  strategies=strategies[config_name],
                                  int8_outputs=[x for x in args.int8_outputs.split(',') if x],
                                  int8_residual_adds=args.int8_residual_adds)
    if args.stage == 'build':
        return
    from ppdet.utils.fileio import read_json
    from ppdet.utils.settings_record import SETTINGS_KEY
    manifest = read_json(os.path.join(args.work_dir, 'manifest.json'))
    manifest['rows'], not_built = built_rows(manifest, grid, strategies, args.work_dir)
    if args.stage == 'lite':
        from ppdet.benchmark.full_size_lite import format_lite_checks, lite_checks
        checks = lite_checks(manifest, images, photos['astronaut'])
        stem = os.path.join(args.out_dir, 'paddle_lite_check' + stem_tail)
        date = time.strftime('%Y-%m-%d %H:%M %Z')
        write_json(stem + '.json', {'cpu': cpu_flags(), 'date': date, 'rows': checks,
                                    'command': command, SETTINGS_KEY: settings,
                                    'not_built': not_built})
        md = ('# Paddle-Lite check of the full-size rows\n\nCommand: `%s`\n\nCPU: %s  \n'
              'Date: %s\n%s%s' % (command, cpu_description(), date,
                                   '\n' + args.note + '\n' if args.note else '',
                                   format_lite_checks(checks)))
        atomic_write(stem + '.md', lambda f: f.write(md))
        print(md)
        return
    result = time_rows(manifest, photos['astronaut'], threads=threads, rounds=rounds,
                       warmup=args.warmup, runtimes=args.runtimes.split(','),
                       check_images=images, pause_s=args.pause_s)
    result['quick'] = bool(args.quick)
    result['command'] = command
    result[SETTINGS_KEY] = settings
    result['not_built'] = not_built
    stem = os.path.join(args.out_dir, 'full_size_latency' + stem_tail)
    write_json(stem + '.json', result)
    if args.onednn_profile:
        from ppdet.benchmark.onednn_ops import onednn_profile
        from ppdet.benchmark.pruning_ceiling import manifest_ceilings
        result['onednn'] = collections.OrderedDict(
            (name, onednn_profile(row['dir'], threads=threads[0], passes=args.profile_passes))
            for name, row in manifest['rows'].items() if row['int8'] and row['fuse_preprocess'])
        if 'paddle_bf16' in args.runtimes.split(','):
            result['onednn_bf16'] = collections.OrderedDict(
                (name, onednn_profile(row['dir'], threads=threads[0], passes=args.profile_passes,
                                      bf16=True))
                for name, row in manifest['rows'].items()
                if not row['int8'] and row['fuse_preprocess'])
        result['pruning_ceiling'] = collections.OrderedDict(
            manifest_ceilings(manifest, result, threads[0], args.profile_passes))
        if 'onnx' in args.runtimes.split(','):
            from ppdet.benchmark.runtime_kernels import manifest_runtime_kernels
            result['runtime_kernels'] = collections.OrderedDict(
                manifest_runtime_kernels(manifest, result, threads[0], args.profile_passes))
        if 'onnx_int8' in args.runtimes.split(','):
            from ppdet.benchmark.onnx_ops import ort_profile
            result['ort'] = collections.OrderedDict(
                (name, ort_profile(row['dir'], row['onnx_int8'], threads=threads[0],
                                   passes=args.profile_passes))
                for name, row in manifest['rows'].items() if row.get('onnx_int8'))
        result['settings']['profile_passes'] = args.profile_passes
        write_json(stem + '.json', result)
    if args.op_profile:
        from ppdet.benchmark.op_profile import op_profile
        result['op_profile'] = collections.OrderedDict(
            (name, op_profile(row['dir'], threads=threads[0], passes=args.profile_passes))
            for name, row in manifest['rows'].items() if row['fuse_preprocess'])
        result['settings']['profile_passes'] = args.profile_passes
        write_json(stem + '.json', result)
    if args.lite_check:
        from ppdet.benchmark.full_size_lite import lite_checks
        result['lite'] = lite_checks(manifest, images, photos['astronaut'])
        write_json(stem + '.json', result)
    from ppdet.benchmark.full_size_plot import plot_speedups, speedups
    run = [(result.get('cpu', {}).get('summary', 'this CPU'), result)]
    drawn = [r for r in ('paddle', 'paddle_bf16') if r in args.runtimes.split(',')]
    chart = ''
    if result.get('groups') and speedups(run, drawn, threads[0]):   # Paddle's rows
        plot_speedups(run, stem + '.png', drawn, threads[0])
        chart = '\n![speed-ups over fp32](%s.png)\n' % os.path.basename(stem)
    title, _, rest = format_table(result, args.note).partition('\n\n')
    md = '%s\n\nCommand: `%s`\n\n%s' % (title, command, rest) + profile_sections(result) + \
        _lite_section(result) + chart
    atomic_write(stem + '.md', lambda f: f.write(md))
    print(md)


def strategies_for(grid, text=None):
    """{config: [strategy, ...]} for the grid: ``text`` (comma-separated) for every config,
    or each config's defaults (YOLOv3's seed presets; the other families' uniform plan).
    A seed preset (r578, sensity: YOLOv3's yolo_block convs) given with another family is
    refused: it would build nothing for it."""
    from ppdet.benchmark.full_size import check_strategy, default_strategies, parse_strategy
    from ppdet.slim.presets import PRESETS
    given = [check_strategy(s.strip()) for s in text.split(',')] if text else None
    for config_name, _ in grid if given else ():
        presets = [s for s in given if parse_strategy(s)[0] in PRESETS]
        if presets and not config_name.startswith('yolov3'):
            raise ValueError('--strategies: %s %s YOLOv3 preset%s (%s the yolo_block convs); for '
                             '%s use --strategies baseline (or uniform_pNN, e.g. uniform_p40)'
                             % (', '.join(presets), 'is a' if len(presets) == 1 else 'are',
                                '' if len(presets) == 1 else 's',
                                'it prunes' if len(presets) == 1 else 'they prune', config_name))
    return {c: (given or list(default_strategies(c))) for c, _ in grid}


def run_settings(grid, strategies, runtimes, threads, stage):
    """What a results file holds, recorded in it: the grid and strategies (and for a timing,
    the runtimes and threads)."""
    out = {'grid': sorted('%s:%d' % g for g in grid),
           'strategies': {c: list(v) for c, v in strategies.items()}}
    if stage != 'lite':
        out.update(runtimes=sorted(runtimes), threads=sorted(threads))
    return out


def recorded_settings(result):
    """A results file's record of its run (:func:`run_settings`); for a timing written before
    the record, its grid, runtimes and threads as timed (``{}``: nothing known)."""
    from ppdet.utils.settings_record import SETTINGS_KEY
    if not isinstance(result, dict):
        raise TypeError('not a results dict')
    if SETTINGS_KEY in result:
        return result[SETTINGS_KEY]
    if 'groups' not in result or 'settings' not in result:
        return {}
    return {'grid': sorted({'%s:%d' % (g['config'], g['input_size']) for g in result['groups']}),
            'runtimes': sorted(result['settings']['runtimes']),
            'threads': sorted(result['settings']['threads'])}


def check_results_file(path, settings, overwrite=False):
    """Refuse to write over ``path`` when it holds another run's results (a partial
    --grid run replaced the committed full table, exit 0), unless ``overwrite``
    (:func:`~ppdet.utils.settings_record.check_results_overwrite`, older files read by
    :func:`recorded_settings`)."""
    from ppdet.utils.settings_record import check_results_overwrite
    check_results_overwrite(path, settings, overwrite, '--out_dir', recorded_settings)


def built_rows(manifest, grid, strategies, work_dir):
    """-> (the manifest's rows of ``grid`` and ``strategies``, the names of the asked-for rows
    not built).  A (config, size) of the grid with nothing built is refused; the rows not
    built are named in a warning (they used to be left out of the table without a word)."""
    wanted = set(grid)
    rows = {k: r for k, r in manifest['rows'].items()
            if (r['config'], r['input_size']) in wanted and
            r['strategy'] in strategies[r['config']]}
    have = {(r['config'], r['input_size'], r['strategy']) for r in rows.values()}
    fix = 'run --stage build (or all) with the same --grid and --strategies and this --work_dir'
    empty = ['%s:%d' % (c, s) for c, s in grid
             if not any((c, s, st) in have for st in strategies[c])]
    if empty:
        raise ValueError('nothing of %s built in --work_dir %s: %s first'
                         % (', '.join(empty), work_dir, fix))
    missing = ['%s_%d_%s' % (c, s, st) for c, s in grid for st in strategies[c]
               if (c, s, st) not in have]
    if missing:
        sys.stderr.write('warning: not built in --work_dir %s, left out of the table: %s (%s to '
                         'add them)\n' % (work_dir, ', '.join(missing), fix))
    return rows, missing


def _configs():
    from ppdet.benchmark.full_size import FULL_SIZE_CONFIGS
    return list(FULL_SIZE_CONFIGS)


def parse_grid(text):
    """``'yolov3_r34:608,yolov3_mobilenet_v1:320'`` -> ((config, size), ...);
    ``'families'`` -> the other families' grid."""
    import difflib
    from ppdet.benchmark.full_size import FAMILY_GRID, check_input_size
    if text.strip() == 'families':
        return FAMILY_GRID
    grid = []
    for item in text.split(','):
        name, _, size = item.strip().partition(':')
        if name not in _configs():
            close = difflib.get_close_matches(name, _configs(), n=3)
            raise ValueError('--grid: unknown config %r%s (known: %s)' % (
                name, '; did you mean %s?' % ' or '.join(close) if close else '',
                ', '.join(_configs())))
        if not size.isdigit():
            raise ValueError('--grid: %r needs an input size, e.g. %s:608' % (item, name))
        grid.append((name, check_input_size('--grid %s' % item.strip(), int(size))))
    return tuple(grid)


def profile_sections(result):
    """The --onednn_profile and --op_profile sections of the result (empty without them)."""
    return _onednn_sections(result) + _op_section(result)


def _lite_section(result):
    from ppdet.benchmark.full_size_lite import format_lite_checks
    return format_lite_checks(result['lite']) if result.get('lite') else ''


def _op_section(result):
    from ppdet.benchmark.op_profile import format_op_profiles
    if 'op_profile' not in result:
        return ''
    return ('\n## Where a pass goes, op by op (Paddle profiler, each op\'s fastest of %d '
            'passes, %d thread)\n\nOne Detector pass on the photo, split by the ops\' position: '
            'before the first conv (the fused pre-processing, an int8 model\'s input quantize), '
            'the convs, the other ops between the first and the last conv, the ops after the '
            'last conv (box decoding, top-k, NMS), and the pass less its ops (Python pre- and '
            'post-processing, copies, the executor between ops).  The pass sums each op\'s fastest '
            'time: a lower bound that no pass reached; the whole passes as they ran are beside '
            'it.\n\n' % (
                result['settings'].get('profile_passes', 1), result['settings']['threads'][0])
            ) + format_op_profiles(result['op_profile'])


def _onednn_sections(result):
    from ppdet.benchmark.onednn_ops import format_summary
    from ppdet.benchmark.pruning_ceiling import format_ceilings, format_untouched
    if 'onednn' not in result:
        return ''
    passes, thread = result['settings'].get('profile_passes', 1), result['settings']['threads'][0]
    md = '\n## oneDNN primitives of the int8 models (fastest of %d passes, %d thread)\n' % (
        passes, thread)
    for name, summary in result['onednn'].items():
        md += '\n' + format_summary(name, summary)
    if result.get('onednn_bf16'):
        md += ('\n## oneDNN primitives of the fp32 models run in bf16 (enable_mkldnn_bfloat16, '
               'fastest of %d passes, %d thread)\n' % (passes, thread))
        for name, summary in result['onednn_bf16'].items():
            md += '\n' + format_summary(name + ', bf16', summary)
    if result.get('ort'):
        md += ('\n## onnxruntime int8 kernels of the same models (each node\'s fastest of %d '
               'passes, %d thread)\n\nThe twin of each Paddle int8 row: the static QDQ model '
               'of its fp32 export.  "pass" is onnxruntime\'s fastest whole run, kernels and '
               'what is between them.\n' % (passes, thread))
        for name, summary in result['ort'].items():
            md += '\n' + format_summary('%s, onnxruntime int8 (pass %.2f ms)' % (
                name, summary['run_ms']), summary, 'onnxruntime kernels')
    return md + (
        '\n## Pruning ceiling: the speed-up a plan can reach on Paddle oneDNN\n\n'
        'Each pruned model against its baseline of the same precision (fp32 against fp32, '
        'int8 against int8: how much of the int8 model the plan leaves alone), oneDNN '
        'primitive times (fastest of %d '
        'passes, %d thread).  Untouched convs: same problem in both models.  Ceiling: the '
        'baseline with every pruned conv shrunk by its MAC ratio at the baseline\'s own rate '
        'and all else kept (Amdahl).  An upper bound end to end: the time outside oneDNN '
        '(per-op cost, decoding, NMS) does not shrink either.\n\n' % (passes, thread)
    ) + format_ceilings(list(result['pruning_ceiling'].items())) + (
        '\nWhere the layers a plan leaves alone spend the pruned model\'s time, by kind, '
        'against the fastest conv per MAC of its baseline:\n\n'
    ) + format_untouched(list(result['pruning_ceiling'].items())) + _runtime_kernels_section(
        result)


def _runtime_kernels_section(result):
    from ppdet.benchmark.full_size import RUNTIME_LABELS
    from ppdet.benchmark.runtime_kernels import format_runtime_kernels
    if not result.get('runtime_kernels'):
        return ''
    passes, thread = result['settings'].get('profile_passes', 1), result['settings']['threads'][0]
    return (
        '\n## Conv kernels by kind, Paddle oneDNN against onnxruntime (fp32)\n\n'
        'The same exports on both runtimes, each kernel at its median of %d passes, %d '
        'thread: where one runtime\'s pruning speed-up differs from the other\'s.  Rest: the '
        'timing\'s median minus the conv kernels (decoding, NMS, the other ops, the cost '
        'between ops; the kernels are profiled in a process of their own).  '
        'The last column: the most rest, the same in both models, that still gives the '
        'target speed-up end to end, (baseline convs - target x pruned convs) / (target - '
        '1).\n\n' % (passes, thread)
    ) + format_runtime_kernels(list(result['runtime_kernels'].items()), RUNTIME_LABELS)


if __name__ == '__main__':
    run_main(main)
