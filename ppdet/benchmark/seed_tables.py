"""The seed's (PaddleDetection 1.x slim benchmark) reference numbers: GFLOPs and size per
pruning strategy, and its GPU / ARM latency table, which cannot be measured here."""
from .percent import percent_change

__all__ = ['STRATEGIES', 'SEED_ARCH', 'SEED_LATENCY_DEVICES', 'SEED_LATENCY', 'seed_arch',
           'format_seed_latency']

# the seed's pruning strategies: none, sensitivity-chosen ratios, and the fixed r578 ratios
STRATEGIES = ('baseline', 'sensity', 'r578')

# seed 002 (PaddleDetection 1.x slim benchmark): GFLOPs per input size and size in MB
SEED_ARCH = {
    'yolov3_mobilenet_v1': {
        'baseline': ({608: 20.64, 416: 9.66, 320: 5.72}, 94.60),
        'sensity': ({608: 13.57, 416: 6.35, 320: 3.76}, 67.60),
        'r578': ({608: 6.27, 416: 2.93, 320: 1.74}, 31.30)},
    'yolov3_mobilenet_v1_voc': {
        'baseline': ({608: 20.20, 416: 9.46, 320: 5.60}, 93.37),
        'sensity': ({608: 13.22, 416: 6.19, 320: 3.66}, 66.53),
        'r578': ({608: 6.15, 416: 2.88, 320: 1.70}, 30.81)},
    'yolov3_r50vd_dcn': {
        'baseline': ({608: 44.71}, 176.82),
        'sensity': ({608: 37.53}, 149.49),
        'r578': ({608: 29.98}, 112.08)},
}

# seed 002's latency table (ms/image): Tesla P4 + TensorRT, batch 1; Kirin 970 / Snapdragon
# 835 / 855 with Paddle-Lite armv8, 4 threads.  The seed's numbers, not ours.
SEED_LATENCY_DEVICES = ('Tesla P4 (TensorRT)', 'Kirin 970', 'Snapdragon 835', 'Snapdragon 855')
SEED_LATENCY = [
    ('MobileNetV1', 'VOC', 'baseline', 608, (16.556, 748.404, 734.970, 289.878)),
    ('MobileNetV1', 'VOC', 'baseline', 416, (9.031, 371.214, 349.065, 140.877)),
    ('MobileNetV1', 'VOC', 'baseline', 320, (6.235, 221.705, 200.498, 80.515)),
    ('MobileNetV1', 'VOC', 'r578', 608, (10.064, 314.531, 323.537, 123.414)),
    ('MobileNetV1', 'VOC', 'r578', 416, (5.478, 151.562, 146.014, 56.420)),
    ('MobileNetV1', 'VOC', 'r578', 320, (3.880, 91.132, 87.440, 31.470)),
    ('ResNet50-vd-dcn', 'COCO', 'baseline', 608, (36.127, None, None, None)),
    ('ResNet50-vd-dcn', 'COCO', 'sensity', 608, (33.245, None, None, None)),
    ('ResNet50-vd-dcn', 'COCO', 'r578', 608, (29.138, None, None, None)),
]


def seed_arch(config, strategy, input_size):
    """-> (the seed's GFLOPs at ``input_size``, its size in MB); None for what it lacks."""
    seed = SEED_ARCH.get(config, {}).get(strategy)
    if not seed:
        return None, None
    return seed[0].get(input_size), seed[1]


def format_seed_latency():
    """The seed's own latency table (ms/image), labelled as the seed's."""
    head = ['backbone', 'dataset', 'strategy', 'input'] + list(SEED_LATENCY_DEVICES)
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    base = {(b, d, s): v for b, d, st, s, v in SEED_LATENCY if st == 'baseline'}
    for backbone, data, strategy, size, values in SEED_LATENCY:
        ref = base.get((backbone, data, size))
        cells = []
        for i, v in enumerate(values):
            if v is None:
                cells.append('-')
            elif strategy != 'baseline' and ref and ref[i]:
                cells.append('%.3f (%+.2f%%)' % (v, percent_change(v, ref[i])))
            else:
                cells.append('%.3f' % v)
        lines.append('| %s | %s | %s | %d | %s |' % (backbone, data, strategy, size,
                                                     ' | '.join(cells)))
    return '\n'.join(lines)
