#!/usr/bin/env bash
# Checks that no module imports a sibling module that imports it back, in the
# `conformance` and `codeintel-server` crates (library and binary), and prints
# every such cycle with the lines that make it. Exit 0: no cycle; 1: cycles
# (listed); 2: the check itself failed.
#
#   scripts/check-cycles.sh                 # both crates
#   scripts/check-cycles.sh conformance     # one crate folder (any crate with src/)
#   scripts/check-cycles.sh --self-test     # the check finds a planted cycle, and only it
#
# How: the module tree is read from the `mod name;` declarations, starting at
# src/lib.rs and src/main.rs. Each file's paths that start with `crate::`,
# `super::` or `self::` (in `use` trees and in expressions) are resolved to
# the module they name. Module A depends on its sibling B (same parent) when
# any file under A names anything under B; a strongly connected group of
# siblings is a cycle. A child naming its parent's own items, or a parent its
# children, is not a cycle. A file's trailing `#[cfg(test)] mod tests` is not
# counted (tests may reach across). Re-exports are not followed: `use
# super::Item` counts as a dependency on the parent, wherever Item lives.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -eq 0 ]; then
    set -- conformance reference-server
fi
exec python3 - "$@" <<'PY'
import os
import re
import sys
from collections import defaultdict

MOD_DECL = re.compile(r'^\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;', re.M)
USE_STMT = re.compile(r'\buse\s+((?:crate|super|self)\b[^;]*);', re.S)
INLINE_PATH = re.compile(r'\b((?:crate|super|self)(?:\s*::\s*\w+)+)')
TEST_TAIL = re.compile(r'^#\[cfg\(test\)\]\s*\n\s*mod\s+\w+\s*\{', re.M)


def strip(text):
    """Comments and string literals blanked, newlines kept (line numbers hold)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith('//', i):
            j = text.find('\n', i)
            j = n if j < 0 else j
            out.append(' ' * (j - i))
            i = j
        elif text.startswith('/*', i):
            j = text.find('*/', i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r'[^\n]', ' ', text[i:j]))
            i = j
        elif c == 'r' and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == '_')):
            hashes = re.match(r'r(#*)"', text[i:]).group(1)
            end = '"' + hashes
            j = text.find(end, i + 2 + len(hashes))
            j = n if j < 0 else j + len(end)
            out.append(re.sub(r'[^\n]', ' ', text[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == '\\' else 1
            j = min(j + 1, n)
            out.append(re.sub(r'[^\n]', ' ', text[i:j]))
            i = j
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 4]):
            m = re.match(r"'(\\.|[^\\'])'", text[i:i + 4])
            out.append(' ' * len(m.group(0)))
            i += len(m.group(0))
        else:
            out.append(c)
            i += 1
    return ''.join(out)


def modules(src, root_file):
    """{module path tuple: file} reachable from root_file by `mod x;`."""
    found = {}

    def visit(path, file, child_dir):
        found[path] = file
        text = strip(open(file, encoding='utf-8').read())
        for m in MOD_DECL.finditer(text):
            name = m.group(1)
            for cand in (os.path.join(child_dir, name + '.rs'), os.path.join(child_dir, name, 'mod.rs')):
                if os.path.isfile(cand):
                    sub_dir = os.path.join(child_dir, name)
                    visit(path + (name,), cand, sub_dir)
                    break

    visit((), root_file, src)
    return found


def expand_use(tree):
    """`a::{b, c::{d, self}}` -> ['a::b', 'a::c::d', 'a::c']."""
    tree = re.sub(r'\s+as\s+\w+', '', tree)
    tree = re.sub(r'\s+', '', tree)

    def split_top(s):
        parts, depth, cur = [], 0, ''
        for ch in s:
            if ch == ',' and depth == 0:
                parts.append(cur)
                cur = ''
                continue
            depth += ch == '{'
            depth -= ch == '}'
            cur += ch
        if cur:
            parts.append(cur)
        return parts

    def walk(prefix, s):
        if '{' not in s:
            full = prefix + s
            if full.endswith('::self'):
                full = full[:-6]
            return [full.rstrip(':')] if full else []
        head, rest = s.split('{', 1)
        inner = rest[:rest.rfind('}')]
        out = []
        for part in split_top(inner):
            out += walk(prefix + head, part)
        return out

    return walk('', tree)


def resolve(path_text, here, known):
    """The module a `crate::`/`super::`/`self::` path names (longest known prefix)."""
    segs = [s for s in re.split(r'\s*::\s*', path_text) if s]
    if not segs:
        return None
    if segs[0] == 'crate':
        base, segs = (), segs[1:]
    else:
        base = here
        while segs and segs[0] in ('super', 'self'):
            if segs[0] == 'super':
                if not base:
                    return None
                base = base[:-1]
            segs = segs[1:]
    target = base
    for s in segs:
        if target + (s,) in known:
            target = target + (s,)
        else:
            break
    return target


def references(file, here, known):
    text = strip(open(file, encoding='utf-8').read())
    m = TEST_TAIL.search(text)
    if m:
        text = text[:m.start()]
    refs = []
    spans = []
    for u in USE_STMT.finditer(text):
        line = text.count('\n', 0, u.start()) + 1
        spans.append((u.start(), u.end()))
        for p in expand_use(u.group(1)):
            t = resolve(p, here, known)
            if t is not None:
                refs.append((line, 'use ' + p, t))
    for p in INLINE_PATH.finditer(text):
        if any(a <= p.start() < b for a, b in spans):
            continue
        line = text.count('\n', 0, p.start()) + 1
        t = resolve(p.group(1), here, known)
        if t is not None:
            refs.append((line, re.sub(r'\s+', '', p.group(1)), t))
    return refs


def sccs(nodes, edges):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            strong(v)
    return out


def check(crate_dir):
    src = os.path.join(crate_dir, 'src')
    cycles = 0
    for root_name in ('lib.rs', 'main.rs'):
        root = os.path.join(src, root_name)
        if not os.path.isfile(root):
            continue
        known = modules(src, root)
        kind = 'lib' if root_name == 'lib.rs' else 'bin'
        # (parent, child_a, child_b) -> [(file, line, path)]
        evidence = defaultdict(list)
        for here, file in known.items():
            for line, text, target in references(file, here, known):
                # the deepest common parent of `here` and `target`
                k = 0
                while k < min(len(here), len(target)) and here[k] == target[k]:
                    k += 1
                if k >= len(here) or k >= len(target):
                    continue  # an ancestor or a descendant, not a sibling
                parent = here[:k]
                evidence[(parent, here[k], target[k])].append((os.path.relpath(file), line, text))
        by_parent = defaultdict(lambda: defaultdict(set))
        for (parent, a, b) in evidence:
            by_parent[parent][a].add(b)
        found = []
        for parent, edges in sorted(by_parent.items()):
            nodes = set(edges) | {b for bs in edges.values() for b in bs}
            for comp in sccs(nodes, edges):
                found.append((parent, comp))
        label = f'{crate_dir} ({kind}, {len(known)} modules)'
        if not found:
            print(f'check-cycles: {label}: no cycle')
            continue
        print(f'check-cycles: {label}: {len(found)} cycle(s)')
        for parent, comp in found:
            name = lambda m: '::'.join(parent + (m,)) or 'crate'
            print(f'  cycle: {" <-> ".join(name(m) for m in comp)}')
            for a in comp:
                for b in comp:
                    if a == b or (parent, a, b) not in evidence:
                        continue
                    print(f'    {name(a)} -> {name(b)}:')
                    for file, line, text in evidence[(parent, a, b)][:6]:
                        print(f'      {file}:{line}  {text}')
                    more = len(evidence[(parent, a, b)]) - 6
                    if more > 0:
                        print(f'      … and {more} more')
        cycles += len(found)
    return cycles


def self_test():
    import contextlib
    import io
    import tempfile
    files = {
        'src/lib.rs': 'pub mod a;\npub mod b;\npub mod c;\npub struct Root;\n',
        # a <-> b through a use tree and an inline path; comments, strings
        # and the test module do not count.
        'src/a.rs': 'use crate::{b::{self, Thing as T}, Root};\n// use crate::c;\nconst S: &str = "crate::c::x";\npub fn f() {}\n',
        'src/b/mod.rs': 'pub mod inner;\npub struct Thing;\n',
        'src/b/inner.rs': 'pub fn g() { super::super::a::f(); super::Thing; }\n',
        # c names its parent and a child of b: no cycle.
        'src/c.rs': 'use super::Root;\nuse crate::b::inner::g;\n#[cfg(test)]\nmod tests {\n    use crate::a::f;\n}\n',
    }
    with tempfile.TemporaryDirectory() as d:
        for name, text in files.items():
            os.makedirs(os.path.dirname(os.path.join(d, name)), exist_ok=True)
            open(os.path.join(d, name), 'w').write(text)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            n = check(d)
        text = out.getvalue()
    ok = (n == 1 and 'cycle: a <-> b' in text and 'src/b/inner.rs:1' in text
          and 'use crate::b' in text and 'crate::c' not in text and 'use crate::b::Thing\n' in text and '(lib, 5 modules)' in text)
    print(text, end='')
    print('check-cycles: self-test', 'passed' if ok else 'FAILED')
    sys.exit(0 if ok else 1)


if sys.argv[1:] == ['--self-test']:
    self_test()
total = 0
for crate in sys.argv[1:]:
    if not os.path.isdir(os.path.join(crate, 'src')):
        print(f'check-cycles: {crate}: no src/ folder', file=sys.stderr)
        sys.exit(2)
    total += check(crate)
if total:
    print(f'check-cycles: {total} cycle(s): a module imports a sibling that imports it back')
    sys.exit(1)
PY
