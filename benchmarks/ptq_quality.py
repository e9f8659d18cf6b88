"""Post-training int8 quality on a trained model: for each PTQ algorithm, the simulated AP
(the fake-quant graph in float, what PaddleSlim optimised), the deployed AP (Paddle
Inference, oneDNN int8 kernels), their detection agreement and the loss against fp32.

python benchmarks/ptq_quality.py      # make demo's baseline (output/pipeline/inference/baseline)
python benchmarks/ptq_quality.py --model_dir output/pipeline/inference/r578 \
    --results benchmarks/results/ptq_quality_r578

Variants (``--variants``): ``default`` is what ``quantize_post`` does now (declared
float-only layers kept fp32, thresholds aligned with the simulation, onnx_format=False);
``before`` the old defaults (output convs quantized, PaddleSlim's thresholds as saved);
``onnx`` the default with onnx_format=True; ``outputs`` the default with the output convs
quantized too (``--quantize_float_only``); ``split`` the default on a copy of the model with
the export's graph rewrites applied (``ppdet.deploy.program_fixes``: decode convs padded,
route concats as sums of convs, projection shortcuts as ``sum`` ops) - on a model exported
before those rewrites, ``default`` against ``split`` is what they change in AP.
Calibration: the first ``--calib_images`` of TrainDataset, preprocessed as inference does;
evaluation: all of EvalDataset.  ``--bf16`` (a CPU with AVX512-BF16 or AMX-BF16): also the
fp32 model in oneDNN bf16 (``enable_mkldnn_bfloat16``), the alternative to int8 that needs no
calibration, with its agreement against fp32.
Writes ``--results``.{json,md} (default benchmarks/results/ptq_quality; atomically; rows merge
by variant/algo, each with its command).  The file records the settings its rows depend on
(model, dataset, calibration images, config, ``-o``, threads, CPU): a run with other settings
is refused before any work (give another ``--results``, or ``--fresh`` to start the file
over), so rows of two setups never share one header and fp32 AP.  Paths, counts and names
are checked before the fp32 evaluation.
"""
import datetime
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppdet.utils.cli import (ArgsParser, check_choices, check_range, command_line,  # noqa: E402
                             missing_input, run_main)
from ppdet.utils.fileio import check_output_dir, check_output_file, read_json  # noqa: E402
from ppdet.utils.settings_record import (SETTINGS_KEY, check_settings_record,  # noqa: E402
                                         settings_diff)

DEFAULT_CONFIG = 'configs/builtin/yolov3_r18_builtin.yml'
RESULTS = 'benchmarks/results/ptq_quality'
# the inputs' defaults: what ``make demo`` (tools/pipeline.py) leaves behind
MODEL_DIR = 'output/pipeline/inference/baseline'
DATASET_DIR = 'dataset/builtin/coco'
VARIANTS = {'default': {},
            'before': {'quantize_float_only': True, 'align': False},
            'onnx': {'onnx_format': True},
            'outputs': {'quantize_float_only': True},
            'split': {'rewrite': True}}


def quantize(variant, fp32_dir, calib, out, algo):
    from ppdet.slim import quant
    opts = dict(VARIANTS[variant])
    align = opts.pop('align', True)
    if opts.pop('rewrite', False):
        fp32_dir = rewritten_copy(fp32_dir, out + '_fp32')
    if align:
        return quant.quantize_post(fp32_dir, calib, out, algo=algo, batch_nums=len(calib),
                                   calibration_source='TrainDataset', **opts)
    # the old behaviour: PaddleSlim's thresholds as saved
    saved = quant.align_output_thresholds
    quant.align_output_thresholds = lambda d: None
    try:
        return quant.quantize_post(fp32_dir, calib, out, algo=algo, batch_nums=len(calib),
                                   calibration_source='TrainDataset', **opts)
    finally:
        quant.align_output_thresholds = saved


def rewritten_copy(model_dir, out):
    """``model_dir`` copied to ``out`` with the export's program rewrites applied."""
    import shutil
    from ppdet.deploy.infer_cfg import load_infer_cfg
    from ppdet.deploy.program_fixes import rewrite_for_onednn
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(model_dir, out)
    rewrite_for_onednn(out, fuse_preprocess=bool(load_infer_cfg(out).get('fuse_preprocess')))
    return out


def measure(cfg, fp32_dir, out, fp32_ap, threads):
    from ppdet.deploy.compare import detection_agreement
    from ppdet.engine.infer_eval import evaluate_exported
    sim_out, dep_out = [], []
    sim = evaluate_exported(cfg, out, cpu_threads=threads, simulate=True, outputs=sim_out)
    dep = evaluate_exported(cfg, out, cpu_threads=threads, outputs=dep_out)
    agree = detection_agreement(sim_out, dep_out)
    return {'AP_simulated': round(100 * sim.primary, 2), 'AP_deployed': round(100 * dep.primary, 2),
            'deployed_minus_simulated': round(100 * (dep.primary - sim.primary), 2),
            'loss_vs_fp32': round(100 * dep.primary - fp32_ap, 2),
            'agreement': round(100 * agree['matched_fraction'], 1) if agree['compared']
            else None, 'matched': agree['matched'], 'compared': agree['compared']}


def bf16_row(cfg, model_dir, threads, fp32_out):
    """The fp32 model ``model_dir`` evaluated with ``enable_mkldnn_bfloat16``: its AP and the %
    of the fp32 run's detections (``fp32_out``) it matches."""
    from ppdet.deploy.compare import detection_agreement
    from ppdet.engine.infer_eval import evaluate_exported
    out = []
    res = evaluate_exported(cfg, model_dir, cpu_threads=threads, outputs=out,
                            enable_mkldnn_bfloat16=True)
    agree = detection_agreement(fp32_out, out)
    return {'fp32_bf16_AP': round(100 * res.primary, 2),
            'fp32_bf16_AP_agreement': round(100 * agree['matched_fraction'], 1)
            if agree['compared'] else None, 'fp32_bf16_compared': agree['compared']}


def agreement_text(agreement, matched, compared):
    """'97.5% (78/80)', or 'nothing compared' when neither run found anything to match
    (its fraction, 1.0 by convention, says nothing)."""
    if not compared:
        return 'nothing compared'
    return '%.1f%% (%d/%d)' % (agreement, matched, compared)


def write_md(path, res):
    lines = ['# Post-training int8 on `%s`: simulated vs deployed'
             % res.get('config', DEFAULT_CONFIG), '',
             'CPU: %s' % res['cpu'], '', 'CPU flags: `%s`' % ' '.join(res['cpu_flags']), '',
             'Date: %s' % res.get('date', 'not recorded'), '',
             'Model: `%s` (fp32 deployed AP %.2f). Calibration: %d TrainDataset images. '
             'Evaluation: EvalDataset (%s), COCO box AP x 100. Simulated: the fake-quant graph '
             'in float (Paddle Inference without oneDNN); deployed: Paddle Inference oneDNN '
             'int8, %d thread(s). Agreement: detections matched between the two (same class, '
             'IoU >= 0.5, score >= 0.3; ppdet.deploy.compare.detection_agreement). Loss: '
             'deployed AP minus fp32 AP.' % (res['model_dir'], res['fp32_AP'],
                                            res['calib_images'], res['dataset_dir'],
                                            res['threads']), '',
             'Variants: default = declared float-only layers (output convs) in fp32, oneDNN '
             'thresholds aligned with the simulation (ppdet.slim.deploy_scales), onnx_format='
             'False; before = the old defaults (output convs quantized, thresholds as '
             'PaddleSlim saved them); onnx = default with onnx_format=True; outputs = default '
             'with the output convs quantized too (--quantize_float_only: what the int8 '
             'output convs of the full-size latency table cost in AP); split = default on a '
             'copy with the export\'s program rewrites (decode convs padded, route concats '
             'as sums of convs, projection shortcuts as sum ops: '
             'ppdet.deploy.program_fixes).', '']
    if 'fp32_bf16_AP' in res:
        matched = 'no detections to compare' if res.get('fp32_bf16_compared') == 0 else \
            '%.1f%% of the fp32 detections matched' % res['fp32_bf16_AP_agreement']
        lines += ['bf16 (a CPU with native bf16, `enable_mkldnn_bfloat16`): the fp32 model in '
                  'bf16 AP %.2f (%+.2f vs fp32), %s.' % (
                      res['fp32_bf16_AP'], res['fp32_bf16_AP'] - res['fp32_AP'], matched), '']
    lines += ['| variant | algo | simulated AP | deployed AP | deployed - simulated | '
              'agreement | loss vs fp32 | PTQ s |', '|---|---|---|---|---|---|---|---|']
    for key in sorted(res['rows'], key=lambda k: (list(VARIANTS).index(k.split('/')[0]),
                                                  k.split('/')[1])):
        r = res['rows'][key]
        v, a = key.split('/')
        lines.append('| %s | %s | %.2f | %.2f | %+.2f | %s | %+.2f | %.0f |' % (
            v, a, r['AP_simulated'], r['AP_deployed'], r['deployed_minus_simulated'],
            agreement_text(r['agreement'], r['matched'], r['compared']), r['loss_vs_fp32'],
            r['ptq_s']))
    lines += ['', 'command: `%s`' % res['command'], ''] + _earlier_commands(res)
    from ppdet.utils.fileio import atomic_write
    atomic_write(path, lambda f: f.write('\n'.join(lines)))


def _earlier_commands(res):
    """The md's list of the other commands whose rows (same settings) the table holds."""
    earlier = sorted({r['command'] for r in res['rows'].values() if r.get('command')}
                     - {res['command']})
    return ['rows also from: %s' % ', '.join('`%s`' % c for c in earlier), ''] if earlier else []


def check_args(args, algos):
    """Refuse bad flags before the fp32 evaluation and the first calibration."""
    from ppdet.slim.quant import PTQ_ALGOS
    check_output_file(args.results + '.json', '--results')
    check_output_file(args.results + '.md', '--results')
    check_output_dir(args.work_dir, '--work_dir')
    check_range('--calib_images', args.calib_images, 1, hint='TrainDataset images to '
                'calibrate on, the first ones')
    check_range('--threads', args.threads, 1)
    check_choices('--algos', algos, PTQ_ALGOS)
    check_choices('--variants', args.variants.split(','), VARIANTS)
    if not os.path.isdir(args.model_dir):
        raise missing_input('--model_dir', args.model_dir, MODEL_DIR, 'the exported baseline')
    if not os.path.isdir(args.dataset_dir):
        raise missing_input('--dataset_dir', args.dataset_dir, DATASET_DIR, 'the built-in dataset')


def run_settings(args):
    """What the rows of a results file depend on: one file holds the rows of one setup."""
    from ppdet.benchmark.cpu import cpu_description
    return {'model_dir': os.path.normpath(args.model_dir),
            'dataset_dir': os.path.normpath(args.dataset_dir),
            'calib_images': args.calib_images, 'config': args.config or DEFAULT_CONFIG,
            'opt': list(args.opt or []), 'threads': args.threads, 'cpu': cpu_description()}


# what a file from before the settings record says of its setup (no -o; an older CPU text)
LEGACY_KEYS = ('model_dir', 'dataset_dir', 'calib_images', 'config', 'threads')


def _legacy_settings(old):
    legacy = {k: old[k] for k in LEGACY_KEYS if k in old}
    legacy.setdefault('config', DEFAULT_CONFIG)
    for k in ('model_dir', 'dataset_dir'):
        if k in legacy:
            legacy[k] = os.path.normpath(legacy[k])
    return legacy


def results_to_extend(args, settings):
    """The results dict this run adds its rows to: the file's, when it was made with these
    settings (or holds no rows); a new one with ``--fresh``.  A file made with other settings
    is refused here, before any work: its rows would be merged under this run's header and
    their loss taken against its fp32 AP."""
    path = args.results + '.json'
    old = read_json(path) if os.path.isfile(path) else {}
    if args.fresh or not old.get('rows'):
        return {SETTINGS_KEY: settings, 'rows': {}}
    what = 'its %d row(s) (and their loss against its fp32 AP)' % len(old['rows'])
    fix = ('give another --results for this run, e.g. --results output/ptq_quality/results%s, '
           'or add --fresh to replace its rows' % (
               ' (the default --results holds the committed results)'
               if os.path.normpath(args.results) == RESULTS else ''))
    if SETTINGS_KEY not in old:      # a file from before the record: what it says of itself
        legacy = _legacy_settings(old)
        diff = settings_diff(legacy, {k: settings[k] for k in legacy})
        if diff:
            raise ValueError('%s was made with other settings (%s; this run: %s): %s would be '
                             "reported as this run's; %s" % (
                                 path, _text(legacy, diff), _text(settings, diff), what, fix))
    return check_settings_record(path, settings, what, fix)


def _text(settings, keys):
    return ', '.join('%s=%r' % (k, settings.get(k)) for k in keys)


def build_parser():
    parser = ArgsParser('PTQ quality: simulated vs deployed AP per algorithm',
                        config_required=False)
    parser.add_argument('--model_dir', default=MODEL_DIR,
                        help='an exported fp32 model (default: make demo\'s baseline)')
    parser.add_argument('--dataset_dir', default=DATASET_DIR,
                        help='the COCO-layout dataset (default: make demo\'s built-in one)')
    parser.add_argument('--work_dir', default='output/ptq_quality',
                        help='where the int8 models go, one per variant/algo (replaced each run)')
    parser.add_argument('--algos', default=None, help='default: PTQ_ALGOS without emd')
    parser.add_argument('--variants', default='default,before',
                        help='comma-separated, of: default (quantize_post\'s defaults), before '
                             '(the old defaults: output convs quantized, thresholds as '
                             'PaddleSlim saved them), onnx (onnx_format=True), outputs (output '
                             'convs quantized too), split (on a copy with the export\'s program '
                             'rewrites)')
    parser.add_argument('--calib_images', type=int, default=32,
                        help='calibrate on the first N TrainDataset images (>= 1)')
    parser.add_argument('--threads', type=int, default=1,
                        help='CPU threads of every evaluation: fp32, simulated and deployed')
    parser.add_argument('--fresh', action='store_true',
                        help='replace the rows of --results (made with other settings) instead '
                             'of refusing them; without it, rows of the same settings merge')
    parser.add_argument('--bf16', action='store_true',
                        help='also the fp32 model in bf16 (a CPU with AVX512-BF16 or AMX-BF16)')
    parser.add_argument('--results', default=RESULTS,
                        help='output path without extension (.json and .md are written); '
                             'one per setup (model, dataset, calibration images, config, -o, '
                             'threads, CPU): another is refused, see --fresh')
    return parser


def main():
    args = build_parser().parse_args()
    from ppdet.slim.quant import PTQ_ALGOS, calibration_images
    algos = args.algos.split(',') if args.algos else [a for a in PTQ_ALGOS if a != 'emd']
    check_args(args, algos)      # before the fp32 eval and calibration
    res = results_to_extend(args, run_settings(args))
    from ppdet.benchmark.cpu import cpu_description, cpu_flags
    from ppdet.core.workspace import load_config
    from ppdet.engine.infer_eval import evaluate_exported
    from ppdet.utils.fileio import write_json
    d = args.dataset_dir
    cfg = load_config(args.config or DEFAULT_CONFIG, overrides=[
        'TrainDataset.dataset_dir=' + d, 'EvalDataset.dataset_dir=' + d,
        'TestDataset.dataset_dir=' + d] + list(args.opt or []))
    calib = calibration_images(cfg, args.calib_images)
    path = args.results + '.json'
    if 'fp32_AP' not in res or (args.bf16 and 'fp32_bf16_AP' not in res):
        fp32_out = []
        res['fp32_AP'] = round(100 * evaluate_exported(
            cfg, args.model_dir, cpu_threads=args.threads, outputs=fp32_out).primary, 2)
        if args.bf16:
            res.update(bf16_row(cfg, args.model_dir, args.threads, fp32_out))
    res.update(config=args.config or DEFAULT_CONFIG, model_dir=args.model_dir, dataset_dir=d,
               calib_images=len(calib), threads=args.threads, cpu=cpu_description(),
               cpu_flags=cpu_flags()['flags'].split(),
               date=datetime.datetime.now().strftime('%Y-%m-%d %H:%M'),
               command=command_line('benchmarks/ptq_quality.py'))
    for variant in args.variants.split(','):
        for algo in algos:
            out = os.path.join(args.work_dir, variant, algo)
            t = time.time()
            quantize(variant, args.model_dir, calib, out, algo)
            row = measure(cfg, args.model_dir, out, res['fp32_AP'], args.threads)
            row.update(ptq_s=round(time.time() - t, 1), command=res['command'])
            res['rows']['%s/%s' % (variant, algo)] = row
            print(variant, algo, row, flush=True)
            write_json(path, res)
            write_md(args.results + '.md', res)
    print('results: %s and %s.md (%d rows)' % (path, args.results, len(res['rows'])))


if __name__ == '__main__':
    run_main(main)
