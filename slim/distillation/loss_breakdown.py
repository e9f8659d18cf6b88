"""Before distilling: where would the L2 loss on the YOLO head outputs come from?

    python slim/distillation/loss_breakdown.py -c configs/distill/yolov3_r18_distill_builtin.yml \
        -o weights=STUDENT_WEIGHTS --teacher_pretrained TEACHER_WEIGHTS [--images 40]

Runs student and teacher on evaluation images and splits the squared difference of
their head maps into box, objectness and class logits, at cells where the teacher sees
an object (objectness >= --fg_thresh) and elsewhere.  When most of it is background
class/objectness logits, L2 distillation mostly asks the student to copy numbers that
decoding ignores: lower its weight or use fine-grained distillation
(-o use_fine_grained_loss=true), which weights those terms by the teacher's objectness.
"""
import itertools
import math

from ppdet.slim.distill import add_teacher_args
from ppdet.utils.cli import ArgsParser, check_range, parse_and_load, run_main


def main():
    parser = ArgsParser('split the L2 distillation loss of a student/teacher pair by part')
    add_teacher_args(parser)
    parser.add_argument('--images', type=int, default=40, help='evaluation images to use')
    parser.add_argument('--fg_thresh', type=float, default=0.1,
                        help="teacher objectness from which a cell counts as an object's")
    args, cfg = parse_and_load(parser)
    check_range('--images', args.images, 1, hint='evaluation images to run both models on')
    check_range('--fg_thresh', args.fg_thresh, 0, 1,
                hint="a teacher objectness (a probability) from which a cell counts as an "
                     "object's")
    from ppdet.engine.trainer import architecture_of
    if architecture_of(cfg) != 'YOLOv3':  # before any model is built or weights read
        raise ValueError('loss_breakdown.py splits the L2 loss of YOLOv3 head maps (box, '
                         'objectness and class logits per anchor); %s builds a %s, whose head '
                         'has another layout: distill.py logs its distillation and detection '
                         'losses side by side at every log_iter' % (
                             cfg.get('_config_path', 'the config'), architecture_of(cfg)))
    if not cfg.get('weights'):
        raise ValueError('no student weights: pass -o weights=PATH')
    from ppdet.engine import Trainer
    from ppdet.modeling.losses.yolo_distill_loss import head_l2_breakdown
    from ppdet.slim.distill import DistillStep
    from ppdet.slim.distill_losses import DEFAULT_WEIGHTS
    step = DistillStep.from_config(cfg, args.teacher_config, args.teacher_pretrained)
    teacher = step.build_teacher()  # checks the pair first
    trainer = Trainer(cfg, mode='eval')
    trainer.load_weights(cfg['weights'])
    _, loader = trainer._loader('eval')
    batch_size = int((cfg.get('EvalReader') or {}).get('batch_size') or 1)
    n_batches = max(1, int(math.ceil(args.images / float(batch_size))))
    masks = trainer.model.yolo_head.anchor_masks
    res = head_l2_breakdown(trainer.model, teacher, itertools.islice(loader, n_batches),
                            [len(m) for m in masks], args.fg_thresh)
    print('| part | share of the L2 loss |\n|---|---|')
    labels = {'xy': 'box x, y', 'wh': 'box w, h',
              'obj_fg': 'objectness, object cells', 'obj_bg': 'objectness, background cells',
              'cls_fg': 'class logits, object cells', 'cls_bg': 'class logits, background cells'}
    for key, label in labels.items():
        print('| %s | %.1f%% |' % (label, 100 * res[key]))
    weight = DEFAULT_WEIGHTS['l2'] if step.weight is None else step.weight
    print('\n%d batches; teacher objectness >= %g at %.2f%% of cells; L2 (sum over the head '
          'maps of the mean squared difference) %.3f per batch, x weight %g = %.1f' % (
              res['batches'], args.fg_thresh, 100 * res['fg_cells'], res['l2_per_batch'],
              weight, res['l2_per_batch'] * weight))


if __name__ == '__main__':
    run_main(main)
