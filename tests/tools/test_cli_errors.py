"""Every script fails on bad input with one clear line, before doing any work."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _fail(*args):
    proc = subprocess.run([sys.executable] + list(args), cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    return proc.stderr


def test_unknown_config_key_lists_close_matches(tiny_config):
    err = _fail('tools/train.py', '-c', tiny_config, '-o', 'epochs=3')
    assert "unknown config key 'epochs'" in err and "did you mean 'epoch'" in err


def test_missing_weights_file_is_named(tiny_config, tmp_path):
    missing = str(tmp_path / 'nope')
    err = _fail('tools/eval.py', '-c', tiny_config, '-o', 'weights=%s' % missing)
    assert 'weights file not found: %s.pdparams' % missing in err


def test_eval_without_weights_says_how(tiny_config):
    err = _fail('tools/eval.py', '-c', tiny_config, '-o', 'weights=')
    assert 'add -o weights=PATH' in err


def test_prune_unknown_param_suggests_name(tiny_config):
    err = _fail('slim/prune/prune.py', '-c', tiny_config, '--pruned_params',
                'yolo_block.0.0.0.conv.weight', '--pruned_ratios', '0.5')
    assert "did you mean 'yolo_block.0.0.0.conv.weights'" in err and 'prune.py -P' in err


def test_prune_ratio_count_mismatch(tiny_config):
    err = _fail('slim/prune/prune.py', '-c', tiny_config, '--pruned_params',
                'yolo_block.0.0.0.conv.weights,yolo_block.0.0.1.conv.weights',
                '--pruned_ratios', '0.5')
    assert '2 pruned_params but 1 pruned_ratios' in err


def test_prune_ratio_out_of_range(tiny_config):
    err = _fail('slim/prune/prune.py', '-c', tiny_config, '--pruned_params',
                'yolo_block.0.0.0.conv.weights', '--pruned_ratios', '1.0')
    assert 'yolo_block.0.0.0.conv.weights' in err and '1' in err


def test_lite_check_without_the_lite_environment_says_make_lite_env(tmp_path):
    """A Paddle-Lite error is one line too (run_main), here the missing chroot."""
    import json
    work = tmp_path / 'work'
    work.mkdir()
    row = {'config': 'yolov3_mobilenet_v1', 'input_size': 320, 'strategy': 'baseline',
           'dir': str(work / 'row'), 'int8': False, 'fuse_preprocess': True}
    (work / 'manifest.json').write_text(json.dumps({'rows': {'row': row}}))
    proc = subprocess.run(
        [sys.executable, 'benchmarks/full_size_latency.py', '--quick', '--stage', 'lite',
         '--work_dir', str(work), '--out_dir', str(tmp_path / 'out')], cwd=ROOT,
        capture_output=True, text=True, timeout=120,
        env=dict(os.environ, LITE_ENV=str(tmp_path / 'no-lite-env')))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith('error: the Paddle-Lite environment is not built at')
    assert 'make lite-env' in proc.stderr and 'Traceback' not in proc.stderr
