#!/usr/bin/env python3
"""Fails when a module of a crate uses a sibling that uses it back.

Usage: scripts/module-cycles.py [SRC_DIR ...]   (default: conformance/src)

Each `.rs` file under SRC_DIR is a module (`mod.rs` is its folder's module).
A module *uses* another when its non-test code names it through `crate::` or
`super::` (in `use` lines or in paths); a name a module re-exports from a
child (`pub use child::*`) counts as a use of that child. A parent and its own children may
use each other (a `mod.rs` registering its children, a child taking the
parent's types): that is one module's inside. Every other edge is lifted to
the two siblings under the lowest common parent (`checks::mcp` using
`mcp_suite` is `checks` → `mcp_suite`), and any cycle among siblings is
printed and fails the run (exit 1). The binary's `main.rs` is its own crate
root and is left out.
"""

import os
import re
import sys

PATH = re.compile(r"\b(crate|super)((?:::(?:super|[a-z_][a-z0-9_]*|\{[^}]*\}))+)")


def modules(src):
    """Module path (tuple) -> file, for every .rs file under src."""
    found = {}
    for root, _, files in os.walk(src):
        for name in files:
            if not name.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(root, name), src)
            parts = rel[:-3].split(os.sep)
            if parts in (["lib"], ["main"]):
                if parts == ["lib"]:
                    found[()] = os.path.join(root, name)
                continue
            if parts[-1] == "mod":
                parts = parts[:-1]
            found[tuple(parts)] = os.path.join(root, name)
    return found


def code_without_tests(text):
    """The file's text up to its `#[cfg(test)]` test module, comments removed."""
    cut = re.search(r"#\[cfg\(test\)\]\s*mod\s+tests", text)
    if cut:
        text = text[: cut.start()]
    text = re.sub(r"//[^\n]*", "", text)
    return text


ITEM = re.compile(
    r"^(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?(?:const\s+fn|fn|struct|enum|const|static|type|trait|macro_rules!)\s+([A-Za-z_][A-Za-z0-9_]*)",
    re.M,
)
GLOB = re.compile(r"^pub(?:\([^)]*\))?\s+use\s+(?:self::)?([a-z_][a-z0-9_]*)::\*;", re.M)


def definer(mod, name, defined, globs, depth=0):
    """The module that defines `name` as seen from `mod`: `mod` itself, or a
    child whose items `mod` re-exports with `pub use child::*`."""
    if name in defined.get(mod, ()) or depth > 8:
        return mod
    for child in globs.get(mod, ()):
        sub = mod + (child,)
        found = definer(sub, name, defined, globs, depth + 1)
        if found != sub or name in defined.get(sub, ()):
            return found
    return mod


def targets(mod, text, known, defined=None, globs=None):
    """The modules `mod` names through crate:: / super:: paths."""
    defined = defined or {}
    globs = globs or {}
    out = set()
    for m in PATH.finditer(text):
        root, rest = m.group(1), m.group(2)
        segs = re.findall(r"super|[a-z_][a-z0-9_]*|\{[^}]*\}", rest)
        if root == "crate":
            base = ()
        else:
            base = mod[:-1]
        while segs and segs[0] == "super":
            base = base[:-1]
            segs = segs[1:]
        heads = [segs]
        if segs and segs[-1].startswith("{"):
            inner = [s.strip() for s in segs[-1][1:-1].split(",")]
            heads = [segs[:-1] + [s.split("::")[0]] for s in inner if s]
        for h in heads:
            path = base
            best = base
            rest = []
            for i, s in enumerate(h):
                path = path + (s,)
                if path in known:
                    best = path
                else:
                    rest = h[i:]
                    break
            if rest:
                best = definer(best, rest[0], defined, globs)
            out.add(best)
    out.discard(mod)
    return out


def lift(a, b):
    """The sibling pair under a and b's lowest common parent, or None."""
    i = 0
    while i < len(a) and i < len(b) and a[i] == b[i]:
        i += 1
    if i == len(a) or i == len(b):
        return None  # one contains the other
    return a[: i + 1], b[: i + 1]


def cycles(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]
    nodes = set(edges) | {b for bs in edges.values() for b in bs}

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
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

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def main(argv):
    srcs = argv[1:] or ["conformance/src"]
    failed = False
    for src in srcs:
        known = modules(src)
        edges, why = {}, {}
        texts, defined, globs = {}, {}, {}
        for mod, path in known.items():
            with open(path, encoding="utf-8") as f:
                texts[mod] = code_without_tests(f.read())
            defined[mod] = set(ITEM.findall(texts[mod]))
            globs[mod] = GLOB.findall(texts[mod])
        for mod in known:
            text = texts[mod]
            for t in targets(mod, text, known, defined, globs):
                pair = lift(mod, t)
                if pair is None:
                    continue
                edges.setdefault(pair[0], set()).add(pair[1])
                why.setdefault(pair, []).append("::".join(mod) + " -> " + "::".join(t))
        found = cycles(edges)
        for comp in found:
            failed = True
            names = ", ".join("::".join(c) for c in comp)
            print(f"{src}: cycle among {names}")
            members = set(comp)
            for pair, uses in sorted(why.items()):
                if pair[0] in members and pair[1] in members:
                    for u in sorted(uses):
                        print(f"    {u}")
        if not found:
            print(f"{src}: {len(known)} modules, no cycle")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
