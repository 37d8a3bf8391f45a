"""doc_links.py - every link in the project's Markdown files leads somewhere.

For each *.md file under the repository (build and run directories left out), every inline
link [text](target) outside code blocks and code spans whose target is not a URL must name a
file or directory that exists, relative to the Markdown file, and a #fragment must be the
anchor of a heading in the file it names (the page itself when the target is #fragment
alone). Anchors are made as GitHub makes them: the heading lower-cased, every character
that is not a letter, a digit, a space, '-' or '_' dropped, spaces turned into '-', and a
repeated anchor given -1, -2, ... Prints one line per broken link (file:line: target: why)
and exits 1 if there is any.

Usage: python3 tests/doc_links.py [ROOT]   (default: the current directory)
"""
import os
import re
import sys

SKIP_DIRS = {'.git', 'build', 'runs', 'node_modules'}
LINK = re.compile(r'\]\(([^)\s]+)\)')  # the text may start on an earlier line
HEADING = re.compile(r'^(#{1,6})\s+(.*?)\s*#*\s*$')
FENCE = re.compile(r'^\s*(```|~~~)')


def markdown_files(root):
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x not in SKIP_DIRS and not x.startswith('build'))
        for f in sorted(files):
            if f.endswith('.md'):
                yield os.path.join(d, f)


def prose_lines(path):
    """(line number, text) of the lines outside fenced code blocks"""
    fenced = False
    with open(path, encoding='utf-8') as f:
        for n, line in enumerate(f, 1):
            if FENCE.match(line):
                fenced = not fenced
                continue
            if not fenced:
                yield n, line.rstrip('\n')


def slug(text):
    text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', text)  # a link's text stays
    out = []
    for ch in text.lower():
        if ch.isalnum() or ch in '-_':
            out.append(ch)
        elif ch == ' ':
            out.append('-')
    return ''.join(out)


def anchors(path, cache={}):
    if path not in cache:
        seen, names = {}, set()
        for _, line in prose_lines(path):
            m = HEADING.match(line)
            if not m:
                continue
            s = slug(m.group(2))
            k = seen.get(s, 0)
            seen[s] = k + 1
            names.add(s if k == 0 else '%s-%d' % (s, k))
        cache[path] = names
    return cache[path]


def check(root):
    bad = checked = 0
    for md in markdown_files(root):
        for n, line in prose_lines(md):
            line = re.sub(r'`[^`]*`', '', line)  # code spans hold no links
            for target in LINK.findall(line):
                if re.match(r'^[a-z][a-z0-9+.-]*:', target):  # http:, mailto:, ...
                    continue
                checked += 1
                path, _, frag = target.partition('#')
                dest = os.path.normpath(os.path.join(os.path.dirname(md), path)) if path else md
                why = None
                if not os.path.exists(dest):
                    why = 'no such file'
                elif frag and dest.endswith('.md') and frag not in anchors(dest):
                    why = 'no heading with anchor #' + frag
                if why:
                    print('%s:%d: %s: %s' % (os.path.relpath(md, root), n, target, why))
                    bad += 1
    return bad, checked


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else '.'
    bad, checked = check(root)
    if bad:
        print('doc_links: FAIL: %d of %d links lead nowhere' % (bad, checked))
        return 1
    if checked == 0:
        print('doc_links: FAIL: no links found under %s (wrong directory?)' % root)
        return 1
    print('doc_links: ok, %d links in Markdown files lead to files and headings that exist'
          % checked)
    return 0


if __name__ == '__main__':
    sys.exit(main())
