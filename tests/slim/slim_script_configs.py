"""The tiny YOLOv3 config the slim script tests run on (built-in dataset, 64 px).

A uniquely named module (every test folder has a conftest.py, so "from conftest import"
is ambiguous across folders).
"""

TINY_YOLOV3 = """\
_BASE_: [{root}/configs/yolov3_mobilenet_v1.yml]
num_classes: 6
worker_num: 0
log_iter: 1
save_dir: {out}
MobileNetV1: {{scale: 0.25}}
YOLOv3FPN: {{base_channel: 32}}
TrainDataset: {{name: COCODataSet, dataset_dir: {data}/coco, image_dir: train,
               anno_path: annotations/instances_train.json}}
EvalDataset: {{name: COCODataSet, dataset_dir: {data}/coco, image_dir: val,
              anno_path: annotations/instances_val.json, allow_empty: true}}
TestDataset: {{name: ImageFolder, dataset_dir: {data}/coco,
              anno_path: annotations/instances_val.json}}
LearningRate: {{base_lr: {base_lr}, schedulers: []}}
TrainReader:
  sample_transforms: [{{Decode: {{}}}}]
  batch_transforms:
  - BatchRandomResize: {{target_size: [{size}], random_size: true, keep_ratio: false}}
  - NormalizeBox: {{}}
  - PadBox: {{num_max_boxes: 20}}
  - BboxXYXY2XYWH: {{}}
  - NormalizeImage: {{mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], is_scale: true}}
  - Permute: {{}}
  batch_size: 2
  shuffle: false
  drop_last: true
EvalReader:
  sample_transforms: &test
  - Decode: {{}}
  - Resize: {{target_size: [{size}, {size}], keep_ratio: false, interp: 2}}
  - NormalizeImage: {{mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], is_scale: true}}
  - Permute: {{}}
  batch_size: 2
TestReader:
  inputs_def: {{image_shape: [3, {size}, {size}]}}
  sample_transforms: *test
  batch_size: 1
"""


def write_tiny_yolov3(path, root, out, data, size, base_lr=0.001, extra=''):
    """Write the tiny config to ``path`` (``extra``: YAML text appended)."""
    path.write_text(TINY_YOLOV3.format(root=root, out=out, data=data, size=size,
                                       base_lr=base_lr) + extra)
    return path
