"""No import cycles inside ppdet/: every ``import ppdet...`` / ``from ppdet... import`` /
relative import, at module level or inside a function, is an edge between two modules;
a cycle is a group of modules that reach one another.  A function-level import hides a
cycle from Python but not from a reader, so it counts here too."""
import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def module_files(package_dir):
    """module name -> file, for every .py under ``package_dir`` (ROOT-relative)."""
    out = {}
    for dirpath, _, files in os.walk(os.path.join(ROOT, package_dir)):
        for f in files:
            if f.endswith('.py'):
                rel = os.path.relpath(os.path.join(dirpath, f), ROOT)[:-3].split(os.sep)
                if rel[-1] == '__init__':
                    rel = rel[:-1]
                out['.'.join(rel)] = os.path.join(dirpath, f)
    return out


def _imported(node, module, is_package, known):
    """The ppdet modules one import statement names (``from pkg import submodule`` names
    the submodule, ``from module import name`` the module)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in known]
    base = node.module or ''
    if node.level:
        parts = module.split('.')
        if not is_package:
            parts = parts[:-1]
        parts = parts[:len(parts) - (node.level - 1)]
        base = '.'.join(parts + ([base] if base else []))
    out = []
    for a in node.names:
        sub = '%s.%s' % (base, a.name)
        if sub in known:
            out.append(sub)
        elif base in known:
            out.append(base)
    return out


def import_graph(package_dir='ppdet'):
    files = module_files(package_dir)
    graph = {}
    for module, path in files.items():
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        is_package = path.endswith('__init__.py')
        graph[module] = {target for node in ast.walk(tree)
                         if isinstance(node, (ast.Import, ast.ImportFrom))
                         for target in _imported(node, module, is_package, files)
                         if target != module}
    return graph


def cycles(graph):
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def test_the_cycle_finder_sees_a_function_level_cycle():
    assert cycles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}) == [['a', 'b', 'c']]
    assert cycles({'a': {'b'}, 'b': set()}) == []


def test_ppdet_has_no_import_cycles():
    found = cycles(import_graph('ppdet'))
    assert not found, 'import cycles in ppdet/ (make one side stop importing the other, ' \
        'or move the shared piece into a third module): %s' % found
