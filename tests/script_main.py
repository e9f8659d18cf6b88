"""A script's ``main`` run in this process as ``python SCRIPT ARGV`` would run it, through
``ppdet.utils.cli.run_main`` (its one-line errors, Ctrl-C handling and exit codes).  A
uniquely named module at the tests' root, importable from every test folder."""
import importlib.util
import os
import sys


def run_script_main(path, argv, monkeypatch, capsys):
    """-> (exit code, stderr) of ``python path argv``; 0 when main returns."""
    from ppdet.utils.cli import run_main
    spec = importlib.util.spec_from_file_location('script_' + os.path.basename(path)[:-3],
                                                  path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(sys, 'argv', [path] + [str(a) for a in argv])
    capsys.readouterr()
    try:
        run_main(mod.main)
        code = 0
    except SystemExit as e:
        code = e.code
    return code, capsys.readouterr().err
