"""Every relative link in the project's Markdown (README, docs/, the scripts' READMEs, the
result files) points at a file that exists, and a ``file.md#anchor`` at one of its headings:
results move between files as the README is condensed, and a dead link is a lost result."""
import glob
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINK = re.compile(r'\]\(([^)\s]+)\)')


def markdown_files():
    pats = ['README.md', 'docs/*.md', '*/README.md', '*/*/README.md',
            'benchmarks/results/**/*.md']
    return sorted({f for p in pats for f in glob.glob(os.path.join(ROOT, p), recursive=True)})


def heading_anchor(title):
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r'[^\w\- ]', '', title.strip().lower()).replace(' ', '-')


def anchors(path):
    with open(path, encoding='utf-8') as f:
        return {heading_anchor(m.group(1)) for m in re.finditer(r'^#+ (.+)$', f.read(), re.M)}


def test_heading_anchor_follows_github():
    assert heading_anchor('Full-size latency') == 'full-size-latency'
    assert heading_anchor("What int8 output convs cost in AP") == 'what-int8-output-convs-cost-in-ap'
    assert heading_anchor('Entry points (all take `-c CONFIG`)') == 'entry-points-all-take--c-config'


def test_relative_links_resolve():
    files = markdown_files()
    assert os.path.join(ROOT, 'docs', 'full_size_latency.md') in files
    broken = []
    for md in files:
        with open(md, encoding='utf-8') as f:
            text = f.read()
        for target in LINK.findall(text):
            if re.match(r'[a-z]+:', target) or target.startswith('#'):
                continue
            path, _, anchor = target.partition('#')
            full = os.path.normpath(os.path.join(os.path.dirname(md), path))
            if not os.path.exists(full):
                broken.append('%s: %s (no such file)' % (os.path.relpath(md, ROOT), target))
            elif anchor and full.endswith('.md') and anchor not in anchors(full):
                broken.append('%s: %s (no such heading)' % (os.path.relpath(md, ROOT), target))
    assert not broken, '\n'.join(broken)
