"""How many bits the deployed int8 convs' weights have on this CPU, and how much of a trained
model's deployed-vs-simulated int8 gap that explains.

python benchmarks/int8_weight_bits.py --model_dir output/avx2_ptq/inference/baseline \\
    --dataset_dir dataset/builtin/coco --algos abs_max,hist

1. Probe: one 3x3 conv, input s8 (the image) and u8 (after ReLU), quantized with the
   project's PTQ; the deployed kernel's weights are read back with one-hot inputs and
   compared with the stored integers (ppdet.benchmark.int8_weight_bits).  Without
   --model_dir only this runs (seconds).
2. Model (--model_dir): for each PTQ algorithm, the int8 model (quantize_post's defaults)
   is run once under oneDNN verbose to find which convs take u8 inputs and which oneDNN
   halves (``sa0.5``: s8 inputs on a CPU without VNNI), then simulated three ways:
   PaddleSlim's simulation, with the u8 inputs at 255 levels (what a VNNI CPU deploys),
   and that with the halved weights (what this CPU deploys).  Reported: AP of each and of
   the deployed model, detection agreement between them and with fp32, and each
   simulation's per-layer SNR against fp32.
3. Full-size rows (--full_size_dir, a benchmarks/full_size_latency.py build): each int8
   row's detections on the six photos matched to its fp32 parent's, deployed and simulated
   the same three ways.

Results: --results.{json,md}, with the CPU's flags.
"""
import datetime
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppdet.utils.cli import (ArgsParser, check_choices, check_range, command_line,  # noqa: E402
                             missing_input, run_main)

DEFAULT_CONFIG = 'configs/builtin/yolov3_r18_builtin.yml'
DATASET_DIR = 'dataset/builtin/coco'   # make demo's (tools/pipeline.py)


def probe_rows(work_dir):
    from ppdet.benchmark.int8_weight_bits import single_conv_probe
    return [single_conv_probe(os.path.join(work_dir, 'probe'), signed, batch_norm)
            for signed in (True, False) for batch_norm in (False, True)]


# the simulations of each row: PaddleSlim's; with u8 inputs where oneDNN has them (what a
# CPU with VNNI deploys); and with the weights oneDNN halves on this CPU halved too
SIMS = ('sim8', 'sim_u8', 'sim_cpu')
# (reference, compared) pairs of runs whose detection agreement each row reports
AGREEMENTS = tuple((sim, 'deployed') for sim in SIMS) + tuple(
    ('fp32', run) for run in SIMS + ('deployed',))


def layer_snr(fp32_dir, dirs, feeds, weights):
    """SNR (dB, worst image) against fp32 of the output of each quantized layer (by weight,
    in graph order) in each simulation of ``dirs`` ({name: int8 model}); -> {name: mean
    over the layers, the last layer's}.  Simulations only: a deployed layer's output is
    requantized for the next layer where the simulation's is not, so the two do not
    compare layer by layer (the detections do)."""
    import numpy as np
    from ppdet.slim.quant_report import layer_report
    n = len(next(iter(feeds.values())))
    out = {}
    for name, d in dirs.items():
        worst = {}
        for i in range(n):
            for r in layer_report(fp32_dir, d, {k: np.asarray(v)[i:i + 1]
                                                for k, v in feeds.items()}):
                snr = r['accumulated']['snr_db']
                worst[r['weight']] = min(snr, worst.get(r['weight'], snr))
        col = [worst[w] for w in weights]
        out[name] = {'mean': round(sum(col) / len(col), 2), 'last': round(col[-1], 2)}
    return out


def model_row(cfg, fp32_dir, calib, probe_feeds, fp32_runs, out, algo, threads):
    from ppdet.benchmark.int8_weight_bits import simulations
    from ppdet.deploy.compare import detection_agreement
    from ppdet.engine.infer_eval import evaluate_exported
    from ppdet.slim.quant import quantize_post
    int8_dir = quantize_post(fp32_dir, calib, os.path.join(out, 'int8'), algo=algo,
                             batch_nums=len(calib), calibration_source='TrainDataset')
    convs, dirs = simulations(int8_dir, out)
    row = {'convs': len(convs), 'convs_u8': sum(c['input'] == 'u8' for c in convs),
           'convs_halved': sum(c['wei_adjust'] != 1.0 for c in convs),
           'impls': sorted({c['impl'] for c in convs})}
    runs = {'fp32': fp32_runs, 'deployed': []}
    row['AP_deployed'] = round(100 * evaluate_exported(
        cfg, int8_dir, cpu_threads=threads, outputs=runs['deployed']).primary, 2)
    for sim in SIMS:
        if sim == 'sim_cpu' and dirs[sim] == dirs['sim_u8']:  # nothing halved on this CPU
            runs[sim], row['AP_' + sim] = runs['sim_u8'], row['AP_sim_u8']
            continue
        runs[sim] = []
        row['AP_' + sim] = round(100 * evaluate_exported(
            cfg, dirs[sim], cpu_threads=threads, simulate=True, outputs=runs[sim]).primary, 2)
    for a, b in AGREEMENTS:
        agree = detection_agreement(runs[a], runs[b])
        row['%s_vs_%s' % (b, a)] = {'agreement': round(100 * agree['matched_fraction'], 1),
                                    'matched': agree['matched'], 'compared': agree['compared']}
    row['layer_snr_db'] = layer_snr(fp32_dir, dirs, probe_feeds, [c['weight'] for c in convs])
    return row


# the full-size rows whose int8 agreement with fp32 --full_size_dir reports
FULL_SIZE_ROWS = tuple('yolov3_mobilenet_v1_%d_%s_int8' % (size, plan)
                       for size in (320, 608) for plan in ('baseline', 'r578'))


def full_size_rows(manifest, names, work_dir):
    """Each named int8 row of a full-size build: its detections on the six photos matched
    to its fp32 parent's, deployed and simulated (``photo_agreement``)."""
    from ppdet.benchmark.int8_weight_bits import photo_agreement
    from ppdet.data.sample_photos import face_photos, no_face_photos
    photos = dict(face_photos())
    photos.update(no_face_photos())
    images = [photos[k] for k in sorted(photos)]
    rows = manifest['rows']
    unknown = [n for n in names if n not in rows or not rows[n].get('int8')]
    if unknown:
        raise ValueError('not int8 rows of the build: %s (it has %s)' % (
            ', '.join(unknown), ', '.join(n for n, r in rows.items() if r.get('int8'))))
    return {n: photo_agreement(rows[rows[n]['parent']]['dir'], rows[n]['dir'], images,
                               os.path.join(work_dir, n)) for n in names}


def write_md(path, res):
    lines = ['# How many bits the deployed int8 convs\' weights have', '',
             'CPU: %s' % res['cpu'], '', 'CPU flags: `%s`' % ' '.join(res['cpu_flags']), '',
             'Date: %s. Paddle Inference, oneDNN int8, 1 thread.' % res['date'], '',
             '## Probe: one 3x3 conv (%d -> %d channels), weights read back from the deployed '
             'kernel' % (res['probe_channels'], res['probe_channels']), '',
             '| conv input | BatchNorm after it | oneDNN kernel | weight scale (verbose) | '
             'read back = stored | read back even | odd stored moved up / down | max abs '
             'diff | weight bits | = halved emulation |', '|' + '---|' * 10]
    for p in res['probe']:
        lines.append('| %s | %s | %s | %s | %.1f%% | %.1f%% | %.1f%% / %.1f%% | %d | %s | '
                     '%.1f%% |' % (
                         p['input'], 'yes' if p['batch_norm'] else 'no', p['impl'],
                         p['wei_adjust'], 100 * p['equal_to_stored'], 100 * p['even'],
                         100 * p['odd_moved_up'], 100 * p['odd_moved_down'],
                         p['max_abs_diff'], p['bits'] or 'other',
                         100 * p['equal_to_halved_emulation']))
    if res.get('rows'):
        lines += ['', '## Model: `%s` (fp32 deployed AP %.2f), %d calibration images, '
                  'EvalDataset of `%s`' % (res['model_dir'], res['fp32_AP'],
                                           res['calib_images'], res['dataset_dir']), '',
                  'sim8: the fake-quant graph in float (PaddleSlim\'s simulation: 8-bit '
                  'weights, activations to 127 levels each side); sim u8: the same with the '
                  'inputs oneDNN holds as u8 (after ReLU) quantized to 255 levels, what a CPU '
                  'with VNNI deploys; sim cpu: sim u8 with the weights of the convs oneDNN '
                  'halves on this CPU rounded to even integers as the probe\'s kernel rounded '
                  'them (the same as sim u8 where none is halved). Agreement: detections '
                  'matched (same class, IoU >= 0.5, score >= 0.3). Layer SNR: each quantized '
                  'layer\'s output in the simulation against fp32 on %d EvalDataset images '
                  '(worst image), mean over the layers / the last one.'
                  % res['layer_images'], '',
                  '| algo | int8 convs (u8 input / halved) | AP deployed | AP sim8 | AP sim u8 '
                  '| AP sim cpu | %s | layer SNR vs fp32, mean / last (dB): %s |'
                  % (' | '.join('%s vs %s' % (b, a) for a, b in AGREEMENTS),
                     ', '.join(SIMS)), '|' + '---|' * (7 + len(AGREEMENTS))]
        for algo, r in sorted(res['rows'].items()):
            snr = r['layer_snr_db']
            lines.append('| %s | %d (%d / %d) | %.2f | %s | %s | %s |' % (
                algo, r['convs'], r['convs_u8'], r['convs_halved'], r['AP_deployed'],
                ' | '.join('%.2f' % r['AP_' + k] for k in SIMS),
                ' | '.join(_agreement(r['%s_vs_%s' % (b, a)]) for a, b in AGREEMENTS),
                ', '.join('%.1f / %.1f' % (snr[k]['mean'], snr[k]['last'])
                          for k in SIMS)))
    if res.get('full_size'):
        lines += ['', '## Full-size rows: int8 detections matched to the fp32 parent on the '
                  'six photos', '', 'Random-weight models with a trained-like head (the '
                  'full-size latency table\'s builds); its "int8 agreement" column is the '
                  'deployed one. sim8 / sim u8 / sim cpu as above.', '',
                  '| row | int8 convs (halved) | fp32 detections | deployed | sim8 | sim u8 | '
                  'sim cpu |', '|' + '---|' * 7]
        for name, r in res['full_size'].items():
            lines.append('| %s | %d (%d) | %d | %.1f%% | %.1f%% | %.1f%% | %.1f%% |' % (
                name, r['convs'], r['convs_halved'], r['detections'], r['deployed'],
                r['sim8'], r['sim_u8'], r['sim_cpu']))
        lines += ['', 'full-size rows from: `%s`' % res['full_size_command']]
    lines += ['', 'command: `%s`' % res['command']]
    earlier = sorted({r['command'] for r in res.get('rows', {}).values() if r.get('command')}
                     - {res['command']})
    if earlier:
        lines += ['', 'model rows from: %s' % ', '.join('`%s`' % c for c in earlier)]
    lines.append('')
    from ppdet.utils.fileio import atomic_write
    atomic_write(path, lambda f: f.write('\n'.join(lines)))


def _agreement(x):
    """A table cell: the share matched with its counts, or 'nothing compared' (the reference
    found no detection: 100% of nothing is not an agreement)."""
    if not x['compared']:
        return 'nothing compared'
    return '%.1f%% (%d/%d)' % (x['agreement'], x['matched'], x['compared'])


# what the model section of a results file holds (kept by a run without --model_dir)
MODEL_KEYS = ('rows', 'model_dir', 'dataset_dir', 'calib_images', 'layer_images', 'fp32_AP')


def build_parser():
    parser = ArgsParser('how many bits the deployed int8 convs\' weights have on this CPU',
                        config_required=False)
    parser.add_argument('--model_dir', default=None,
                        help='an exported fp32 model (default: only the one-conv probe)')
    parser.add_argument('--dataset_dir', default=DATASET_DIR,
                        help='the COCO-layout dataset of --model_dir\'s rows: calibration on '
                             'its TrainDataset, AP on its EvalDataset; the default is make '
                             'demo\'s')
    parser.add_argument('--work_dir', default='output/int8_weight_bits',
                        help='where the probe\'s conv, the int8 models and their simulations '
                             'go (replaced each run)')
    parser.add_argument('--algos', default='abs_max,hist',
                        help="PTQ algorithms of the model rows ('': keep the rows of an "
                             "earlier run of the same model, refresh the probe)")
    parser.add_argument('--calib_images', type=int, default=32,
                        help='calibrate the model rows on the first N TrainDataset images')
    parser.add_argument('--layer_images', type=int, default=4,
                        help='EvalDataset images of the per-layer SNR')
    parser.add_argument('--threads', type=int, default=1,
                        help='CPU threads of the model rows\' evaluations')
    parser.add_argument('--full_size_dir', default=None,
                        help='a benchmarks/full_size_latency.py build (manifest.json): its int8 '
                             'rows\' agreement with their fp32 parents on the six photos, '
                             'deployed and simulated (e.g. output/full_size_build, the '
                             '--work_dir of full_size_latency.py)')
    parser.add_argument('--full_size_rows', default=','.join(FULL_SIZE_ROWS),
                        help='int8 rows of that build')
    parser.add_argument('--results', default='benchmarks/results/int8_weight_bits',
                        help='output path without extension (.json and .md are written); a run '
                             'without --model_dir keeps its model rows, one without '
                             '--full_size_dir its full-size rows')
    return parser


def check_args(parser, args, manifest):
    """Every flag and path, before the probe: inputs there, names known, counts >= 1, both
    outputs writable."""
    if args.full_size_dir and not os.path.isfile(manifest):
        parser.error('--full_size_dir %s has no manifest.json: build the rows first with '
                     'python benchmarks/full_size_latency.py --quick --stage build --work_dir %s'
                     % (args.full_size_dir, args.full_size_dir))
    if args.model_dir and not os.path.isfile(os.path.join(args.model_dir, 'model.pdmodel')):
        parser.error('--model_dir %s holds no exported model (model.pdmodel): export one with '
                     'tools/export_model.py, or run python tools/pipeline.py --stages data '
                     'train eval' % args.model_dir)
    if args.model_dir and not os.path.isdir(args.dataset_dir):
        raise missing_input('--dataset_dir', args.dataset_dir, DATASET_DIR,
                            'the built-in dataset')
    if args.full_size_dir:
        from ppdet.utils.fileio import read_json
        check_choices('--full_size_rows', [r for r in args.full_size_rows.split(',') if r],
                      sorted(read_json(manifest).get('rows', {})))
    from ppdet.slim.quant import PTQ_ALGOS
    check_choices('--algos', [a for a in args.algos.split(',') if a], PTQ_ALGOS)
    for flag in ('calib_images', 'layer_images', 'threads'):
        check_range('--' + flag, getattr(args, flag), 1)
    from ppdet.utils.fileio import check_output_dir, check_output_file
    check_output_file(args.results + '.json', '--results')
    check_output_file(args.results + '.md', '--results')
    check_output_dir(args.work_dir, '--work_dir')


def kept_model_section(old, model_dir):
    """What of an earlier run's model section this run keeps: all of it (rows, model and
    the header's numbers) when it has no --model_dir (it refreshes the probe or the
    full-size rows), the rows of the same model, or nothing for another model."""
    if model_dir is None:
        kept = {k: old[k] for k in MODEL_KEYS if k in old}
        kept.setdefault('rows', {})
        return kept
    return {'rows': old.get('rows', {}) if old.get('model_dir') == model_dir else {}}


def check_same_cpu(old, res, path, keeps_full_size):
    """Refuse keeping rows of ``old`` (an earlier run's results) measured on another CPU:
    what the int8 kernels do with the weights is this CPU's (AVX2 halves them, VNNI does
    not), and the md shows every row under one CPU header."""
    kept = bool(res.get('rows')) or (keeps_full_size and bool(old.get('full_size')))
    if kept and old.get('cpu') and old['cpu'] != res['cpu']:
        raise ValueError('--results %s holds rows measured on another CPU (%s; this one: %s): '
                         'they would be shown as this CPU\'s; give another --results' % (
                             path, old['cpu'], res['cpu']))


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    manifest = os.path.join(args.full_size_dir or '', 'manifest.json')
    check_args(parser, args, manifest)
    from ppdet.benchmark.cpu import cpu_description, cpu_flags
    from ppdet.benchmark.int8_weight_bits import PROBE_CHANNELS
    from ppdet.utils.fileio import read_json, write_json
    path = args.results + '.json'
    old = read_json(path) if os.path.isfile(path) else {}
    res = {'cpu': cpu_description(), 'cpu_flags': cpu_flags()['flags'].split(),
           'date': datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M UTC'),
           'command': command_line('benchmarks/int8_weight_bits.py', argv),
           'probe_channels': PROBE_CHANNELS}
    res.update(kept_model_section(old, args.model_dir))
    check_same_cpu(old, res, path, keeps_full_size=not args.full_size_dir)
    res['probe'] = probe_rows(args.work_dir)
    for p in res['probe']:
        print(p, flush=True)
    if args.model_dir:
        from ppdet.core.workspace import load_config
        from ppdet.engine.infer_eval import evaluate_exported
        from ppdet.slim.quant import calibration_images
        d = args.dataset_dir
        cfg = load_config(args.config or DEFAULT_CONFIG, overrides=[
            'TrainDataset.dataset_dir=' + d, 'EvalDataset.dataset_dir=' + d,
            'TestDataset.dataset_dir=' + d] + list(args.opt or []))
        from ppdet.slim.quant import calibration_feeds, stack_feeds
        calib = calibration_images(cfg, args.calib_images)
        probe = stack_feeds(calibration_feeds(args.model_dir, calibration_images(
            cfg, args.layer_images, 'EvalDataset')))
        fp32_runs = []
        res.update(model_dir=args.model_dir, dataset_dir=d, calib_images=len(calib),
                   layer_images=args.layer_images,
                   fp32_AP=round(100 * evaluate_exported(
                       cfg, args.model_dir, cpu_threads=args.threads,
                       outputs=fp32_runs).primary, 2))
        for algo in [a for a in args.algos.split(',') if a]:
            res['rows'][algo] = model_row(cfg, args.model_dir, calib, probe, fp32_runs,
                                          os.path.join(args.work_dir, algo), algo,
                                          args.threads)
            res['rows'][algo]['command'] = res['command']
            print(algo, res['rows'][algo], flush=True)
            write_json(path, res)
            write_md(args.results + '.md', res)
    if args.full_size_dir:
        res['full_size'] = full_size_rows(read_json(manifest), args.full_size_rows.split(','),
                                          os.path.join(args.work_dir, 'full_size'))
        res['full_size_command'] = res['command']
    elif old.get('full_size'):  # kept from an earlier run
        res['full_size'], res['full_size_command'] = old['full_size'], old['full_size_command']
    write_json(path, res)
    write_md(args.results + '.md', res)


if __name__ == '__main__':
    run_main(main)
