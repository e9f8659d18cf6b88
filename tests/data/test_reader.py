import copy
import glob
import os

import numpy as np
import pytest
import yaml

from ppdet.core.workspace import ConfigError
from ppdet.data import BatchCompose, build_dataset, create_reader
import ppdet.modeling  # noqa: F401  (registers YOLOv3, whose loss declares the train fields)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def make_cfg(builtin_dir, fmt='coco', size=64):
    """The project's YOLOv3 reader and built-in dataset configs, shrunk and redirected."""
    with open(os.path.join(ROOT, 'configs', '_base_', 'yolov3_reader.yml')) as f:
        cfg = yaml.safe_load(f)
    with open(os.path.join(ROOT, 'configs', 'datasets', 'builtin_%s.yml' % fmt)) as f:
        cfg.update(yaml.safe_load(f))
    for sec in ('TrainDataset', 'EvalDataset', 'TestDataset'):
        cfg[sec]['dataset_dir'] = cfg[sec]['dataset_dir'].replace('dataset/builtin', builtin_dir)
    resize = cfg['TrainReader']['batch_transforms'][0]['BatchRandomResize']
    resize['target_size'] = [size - 16, size]
    cfg['TrainReader']['batch_size'] = 4
    cfg['architecture'] = 'YOLOv3'  # its loss declares the train fields
    for sec in ('EvalReader', 'TestReader'):
        cfg[sec]['sample_transforms'][1]['Resize']['target_size'] = [size, size]
    cfg['EvalReader']['batch_size'] = 3
    return cfg


@pytest.mark.parametrize('workers', [0, 2])
def test_train_batches(builtin_dir, workers):
    cfg = make_cfg(builtin_dir)
    loader = create_reader(cfg, 'train', num_workers=workers)
    assert len(loader) == 4  # 16 images, batch 4, drop_last
    batches = list(loader)
    assert len(batches) == 4
    for b in batches:
        b = {k: v.numpy() for k, v in b.items()}
        assert set(b) == {'image', 'gt_bbox', 'gt_class', 'gt_score', 'im_shape', 'scale_factor',
                          'im_id'}
        size = b['image'].shape[2]
        assert size in (48, 64) and b['image'].shape == (4, 3, size, size)
        assert b['image'].dtype == np.float32 and abs(b['image'].mean()) < 3
        assert b['gt_bbox'].shape == (4, 50, 4) and b['gt_bbox'].dtype == np.float32
        assert b['gt_class'].shape == (4, 50) and b['gt_class'].dtype == np.int32
        assert b['gt_score'].shape == (4, 50) and b['gt_score'].dtype == np.float32
        assert b['im_shape'].tolist() == [[size, size]] * 4
        assert b['im_id'].shape == (4, 1) and b['im_id'].dtype == np.int64
        real = b['gt_score'] > 0
        assert real.sum(axis=1).min() >= 1
        cxcywh = b['gt_bbox'][real]
        assert np.all(cxcywh >= 0) and np.all(cxcywh <= 1) and np.all(cxcywh[:, 2:] > 0)
        assert np.all(b['gt_class'][real] < 6) and np.all(b['gt_bbox'][~real] == 0)


@pytest.mark.parametrize('workers', [0, 2])
def test_eval_batches_carry_original_gt(builtin_dir, workers):
    cfg = make_cfg(builtin_dir, 'voc')
    dataset = build_dataset(cfg, 'EvalDataset')
    records = {int(r['im_id'][0]): r for r in dataset.roidbs}
    loader = create_reader(cfg, 'eval', dataset=dataset, num_workers=workers)
    seen = 0
    for b in loader:
        b = {k: v.numpy() for k, v in b.items()}
        assert b['image'].shape[1:] == (3, 64, 64)
        np.testing.assert_allclose(b['scale_factor'], [[0.5, 0.5]] * len(b['image']))
        assert b['im_shape'].tolist() == [[64, 64]] * len(b['image'])
        for i, im_id in enumerate(b['im_id'][:, 0]):
            rec, n = records[int(im_id)], int(b['gt_num'][i])
            np.testing.assert_allclose(b['gt_bbox'][i, :n], rec['gt_bbox'])  # original pixels
            assert b['gt_class'][i, :n].tolist() == rec['gt_class'][:, 0].tolist()
            assert b['difficult'][i, :n].tolist() == rec['difficult'][:, 0].tolist()
            assert np.all(b['gt_bbox'][i, n:] == 0)
            seen += 1
    assert seen == len(dataset) == 8


def test_test_reader_with_image_folder(builtin_dir):
    cfg = make_cfg(builtin_dir)
    ds = build_dataset(cfg, 'TestDataset')
    paths = sorted(build_dataset(cfg, 'EvalDataset').get_imid2path().values())[:2]
    ds.set_images(paths)
    batches = list(create_reader(cfg, 'test', dataset=ds, num_workers=0))
    assert len(batches) == 2
    assert set(batches[0]) == {'image', 'im_shape', 'scale_factor', 'im_id'}
    assert ds.label_list() == ['circle', 'square', 'triangle', 'star', 'ring', 'cross']


def test_images_of_different_sizes_are_padded():
    collate = BatchCompose([], mode='test')
    samples = [{'image': np.ones((3, 40, 30), np.float32), 'im_id': np.array([i]),
                'im_shape': np.array(s, np.float32), 'scale_factor': np.ones(2, np.float32)}
               for i, s in enumerate([(40, 30), (20, 50)])]
    samples[1]['image'] = np.ones((3, 20, 50), np.float32)
    b = collate(samples)
    assert b['image'].shape == (2, 3, 40, 50)
    assert b['image'][1, :, 20:].sum() == 0 and b['image'][1, :, :20].min() == 1
    assert b['im_shape'].tolist() == [[40, 30], [20, 50]]


def test_train_batches_carry_exactly_the_declared_fields():
    """Collation follows the model's declaration: extra keys stay out, declared ones (globs
    too) go in, a missing required one names itself and the fix."""
    from ppdet.core.workspace import register
    from ppdet.data.reader import train_fields
    from ppdet.modeling.architectures import BaseArch

    @register
    class FieldsProbeArch(BaseArch):
        train_fields = ('labels', 'reg_target*')
        optional_train_fields = ('weights',)

    cfg = {'architecture': 'FieldsProbeArch'}
    assert train_fields(cfg) == (('labels', 'reg_target*'), ('weights',))
    collate = BatchCompose([], mode='train', fields=train_fields(cfg))
    sample = {'image': np.ones((3, 8, 8), np.float32), 'im_id': np.array([0]),
              'im_shape': np.array([8, 8], np.float32), 'scale_factor': np.ones(2, np.float32),
              'labels': np.arange(4), 'reg_target0': np.ones((4, 4), np.float32),
              'reg_target1': np.zeros((2, 4), np.float32), 'gt_bbox': np.zeros((1, 4)),
              'im_file': 'a.jpg'}
    b = collate([sample, dict(sample)])
    assert set(b) == {'image', 'im_id', 'im_shape', 'scale_factor', 'labels', 'reg_target0',
                      'reg_target1'}
    assert b['reg_target1'].shape == (2, 2, 4)
    cfg['TrainReader'] = {'inputs_def': {'fields': ['centerness']}}
    with pytest.raises(KeyError, match="needs 'centerness' but the train reader produced no"):
        BatchCompose([], mode='train', fields=train_fields(cfg))([sample])
    with pytest.raises(ConfigError, match='no training fields'):
        train_fields({})


def test_reader_errors(builtin_dir):
    cfg = make_cfg(builtin_dir)
    bad = copy.deepcopy(cfg)
    bad['TrainReader']['batch_sise'] = 2
    with pytest.raises(ConfigError, match="unknown key 'batch_sise' in TrainReader.*'batch_size'"):
        create_reader(bad, 'train')
    with pytest.raises(ValueError, match='batch_size=64 with drop_last=true but the dataset has '
                                         'only 16 records'):
        create_reader(cfg, 'train', batch_size=64)
    bad = copy.deepcopy(cfg)
    bad['EvalReader']['sample_transforms'].insert(1, {'Normalise': {}})
    with pytest.raises(ConfigError, match="unknown transform 'Normalise'"):
        create_reader(bad, 'eval')
    with pytest.raises(ConfigError, match='no TrainDataset section'):
        build_dataset({}, 'TrainDataset')


def test_per_process_share_below_the_batch_is_refused(builtin_dir, monkeypatch):
    """Under paddle.distributed.launch each process gets ceil(N / ranks) records: a share
    below the batch (drop_last) trained zero steps and saved the untrained model, exit 0."""
    cfg = make_cfg(builtin_dir)
    import paddle.distributed.parallel as parallel
    monkeypatch.setenv('PADDLE_TRAINERS_NUM', '2')      # what the launcher sets for rank 0
    monkeypatch.setenv('PADDLE_TRAINER_ID', '0')
    monkeypatch.setattr(parallel, '_global_parallel_env', None)   # read again from the env
    with pytest.raises(ValueError, match=r'batch_size=10 with drop_last=true but each of the 2 '
                                         r'processes gets only 8 of the 16 records, so there '
                                         r'would be no batch; lower TrainReader.batch_size to 8 '
                                         r'or less, or run fewer processes'):
        create_reader(cfg, 'train', batch_size=10)
    loader = create_reader(cfg, 'train', batch_size=8)
    assert len(loader.batch_sampler) == 1          # this process's one batch of 8
    from paddle.io import DistributedBatchSampler
    assert not isinstance(create_reader(cfg, 'eval', batch_size=10).batch_sampler,
                          DistributedBatchSampler)          # evaluation is not sharded


def test_transform_error_is_raised_not_hung(builtin_dir):
    cfg = make_cfg(builtin_dir)
    cfg['EvalReader']['sample_transforms'][2] = {'NormalizeImage': {'mean': [0.5, 0.5],
                                                                    'std': [1., 1.]}}
    with pytest.raises(RuntimeError,
                       match=r'transform NormalizeImage failed on \S+val_0000\d\d\.jpg'):
        for _ in create_reader(cfg, 'eval', num_workers=0):
            pass


def test_workers_die_with_a_killed_parent(builtin_dir, tmp_path):
    """A training process killed while its workers wait must not leave orphans behind."""
    import signal
    import subprocess
    import sys
    import time
    script = tmp_path / 'hold.py'
    script.write_text(
        'import sys, time\n'
        'sys.path.insert(0, %r); sys.path.insert(0, %r)\n'
        'from test_reader import make_cfg\n'
        'from ppdet.data import create_reader\n'
        'cfg = make_cfg(%r)\n'
        'cfg["TrainReader"]["batch_size"] = 1\n'
        'it = iter(create_reader(cfg, "train", num_workers=2))\n'
        'next(it)\n'
        'print("ready", flush=True)\n'
        'time.sleep(60)\n' % (ROOT, os.path.dirname(__file__), builtin_dir))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS='1'))
    children = []
    try:
        assert proc.stdout.readline().strip() == 'ready'
        children = subprocess.run(['pgrep', '-P', str(proc.pid)], capture_output=True,
                                  text=True).stdout.split()
        assert len(children) >= 2
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.time() + 10
        while time.time() < deadline and any(os.path.exists('/proc/%s' % c) for c in children):
            time.sleep(0.2)
        alive = [c for c in children if os.path.exists('/proc/%s' % c)
                 and open('/proc/%s/stat' % c).read().split()[2] != 'Z']
        assert not alive, 'orphaned DataLoader workers: %s' % alive
    finally:
        if proc.poll() is None:
            proc.kill()
        # what a kill -9 cannot clean: the killed workers' shared-memory segments (21 were
        # left in /dev/shm by every run of this test)
        for c in children:
            for f in glob.glob('/dev/shm/paddle_%s_*' % c):
                os.remove(f)


def test_loop_stopped_at_any_batch_does_not_hang(builtin_dir, tmp_path):
    """Breaking out of a loader with workers after any batch, the last one included (a
    subset evaluation whose image count is the eval set's size), shuts it down at once:
    it used to hang forever in the reader's shutdown.  In a child process, so that a hang
    fails the test instead of the suite."""
    import subprocess
    import sys
    script = tmp_path / 'stop.py'
    script.write_text(
        'import sys\n'
        'sys.path.insert(0, %r); sys.path.insert(0, %r)\n'
        'from test_reader import make_cfg\n'
        'from ppdet.data import create_reader\n'
        'cfg = make_cfg(%r)\n'
        'for mode in ("eval", "train"):\n'
        '    total = len(create_reader(cfg, mode, num_workers=2))\n'
        '    for stop in range(1, total + 1):\n'
        '        seen = 0\n'
        '        for batch in create_reader(cfg, mode, num_workers=2):\n'
        '            seen += 1\n'
        '            if seen == stop:\n'
        '                break\n'
        '        print(mode, stop, "of", total, flush=True)\n' % (ROOT, os.path.dirname(__file__),
                                                            builtin_dir))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.split('\n')
    assert 'eval 3 of 3' in lines and 'train 4 of 4' in lines, proc.stdout
