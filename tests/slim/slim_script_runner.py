"""Running a slim/ script in tests: in-process (its ``main()`` with a command line) or as a
subprocess that must fail with one ``error:`` line; and the root conftest's tiny config
writer.  A uniquely named module (see slim_script_configs.py)."""
import importlib.util
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_spec = importlib.util.spec_from_file_location('tests_root_conftest_slim',
                                               os.path.join(ROOT, 'tests', 'conftest.py'))
_root_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_root_conftest)
write_tiny_config = _root_conftest.write_tiny_config


def script_env():
    return dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')


def run_script(script, *args, timeout=300):
    """``script`` (relative to the repository) in a subprocess -> CompletedProcess."""
    return subprocess.run([sys.executable, os.path.join(ROOT, script)] + [str(a) for a in args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=script_env())


def fail(script, *args):
    """Run ``script``: exit 2 with one ``error:`` line and no traceback; -> that line."""
    proc = run_script(script, *args)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2 and 'Traceback' not in out, out[-3000:]
    last = proc.stderr.rstrip().splitlines()[-1]
    assert last.startswith('error: '), out[-3000:]
    return last


def run_main(monkeypatch, script, *args):
    """The script's ``main()`` in-process with ``args`` on its command line."""
    spec = importlib.util.spec_from_file_location(
        'slim_script_' + os.path.basename(script)[:-3], os.path.join(ROOT, script))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(sys, 'argv', [script] + [str(a) for a in args])
    return mod.main()
