#!/usr/bin/python3
"""The runtime's layering, checked from the files themselves.

  layers.py --root SRC --lib LIBLMRT.a CHECK

CHECK is one of:
  includes  no runtime file includes one that (through any chain) includes
            it back, and a folder includes only itself and folders below it
            in FOLDER_ORDER (docs/architecture.md's table, bottom up)
  calls     no two object files of the runtime library call each other,
            directly or around a longer loop (nm's defined and undefined
            symbols), and a folder's objects call only folders below it

Exits 1 naming every loop or upward edge found, 0 when there is none.
"""
import argparse
import collections
import os
import re
import subprocess
import sys

# Bottom up: a folder may use the folders before it, never one after it.
# Folders on one level (weights, text, hub) must not use each other either.
FOLDER_ORDER = [
    ("core",),
    ("kernels", "weights", "text", "hub"),
    ("generate",),
    ("serve",),
    ("cli",),
]
LEVEL = {f: i for i, fs in enumerate(FOLDER_ORDER) for f in fs}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def runtime_files(root):
    rt = os.path.join(root, "runtime")
    out = []
    for d, _, names in os.walk(rt):
        out += [os.path.join(d, n) for n in names if n.endswith((".c", ".h"))]
    return rt, sorted(out)


def folder_of(rt, path):
    rel = os.path.relpath(path, rt)
    return rel.split(os.sep)[0] if os.sep in rel else ""


def loops(graph):
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(100000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
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
                found.append(sorted(comp))

    nodes = set(graph) | {w for ws in graph.values() for w in ws}
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return found


def folder_problems(rt, edges, what):
    """edges: (from path, to path, why); an upward or sideways folder edge."""
    bad = []
    for a, b, why in edges:
        fa, fb = folder_of(rt, a), folder_of(rt, b)
        if fa == fb:
            continue
        if fa not in LEVEL or fb not in LEVEL:
            bad.append(f"{what}: {a} -> {b}: folder '{fa or fb}' is not in layers.py's FOLDER_ORDER")
        elif LEVEL[fb] >= LEVEL[fa]:
            bad.append(f"{what}: {os.path.relpath(a, rt)} -> {os.path.relpath(b, rt)} ({why}): "
                       f"{fa}/ may not use {fb}/")
    return bad


def check_includes(root):
    rt, files = runtime_files(root)
    graph = collections.defaultdict(set)
    edges = []
    missing = []
    for f in files:
        with open(f, errors="replace") as fh:
            for n, line in enumerate(fh, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                # Inside the runtime an include is relative to the includer.
                target = os.path.normpath(os.path.join(os.path.dirname(f), m.group(1)))
                if not os.path.exists(target):
                    missing.append(f"{f}:{n}: #include \"{m.group(1)}\" is not a file next to it")
                    continue
                graph[f].add(target)
                edges.append((f, target, f"line {n}"))
    bad = missing + folder_problems(rt, edges, "include")
    for comp in loops(graph):
        bad.append("include loop: " + " <-> ".join(os.path.relpath(p, rt) for p in comp))
    return bad, len(files)


def archive_symbols(lib):
    """member -> (defined, undefined) from nm on the archive."""
    out = subprocess.run(["nm", lib], capture_output=True, text=True, check=True).stdout
    members = {}
    cur = None
    for line in out.splitlines():
        if line.endswith(":") and not line.startswith(" "):
            cur = line[:-1]
            members[cur] = (set(), set())
            continue
        parts = line.split()
        if cur is None or not parts:
            continue
        if len(parts) == 3 and parts[1] in "TDBRVWC":
            members[cur][0].add(parts[2])
        elif len(parts) == 2 and parts[0] == "U":
            members[cur][1].add(parts[1])
    return members


def check_calls(root, lib):
    rt, files = runtime_files(root)
    by_name = collections.defaultdict(list)
    for f in files:
        if f.endswith(".c"):
            by_name[os.path.basename(f)].append(f)
    members = archive_symbols(lib)
    bad = []
    source = {}
    for m in members:
        c = m[:-2] if m.endswith(".o") else m  # CMake names members file.c.o
        if len(by_name.get(c, ())) != 1:
            bad.append(f"calls: archive member {m} matches {len(by_name.get(c, ()))} runtime sources")
            continue
        source[m] = by_name[c][0]
    definer = {}
    for m, (defs, _) in members.items():
        for s in defs:
            definer.setdefault(s, m)
    graph = collections.defaultdict(set)
    edges = []
    for m, (_, undef) in members.items():
        for s in sorted(undef):
            d = definer.get(s)
            if d and d != m and m in source and d in source:
                if source[d] not in graph[source[m]]:
                    edges.append((source[m], source[d], s))
                graph[source[m]].add(source[d])
    bad += folder_problems(rt, edges, "call")
    for comp in loops(graph):
        bad.append("call loop: " + " <-> ".join(os.path.relpath(p, rt) for p in comp))
    if not members:
        bad.append(f"calls: {lib} has no members")
    return bad, len(members)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", required=True)
    ap.add_argument("--lib")
    ap.add_argument("check", choices=["includes", "calls"])
    a = ap.parse_args()
    if a.check == "includes":
        bad, n = check_includes(a.root)
        what = f"{n} runtime files"
    else:
        if not a.lib:
            ap.error("calls needs --lib")
        bad, n = check_calls(a.root, a.lib)
        what = f"{n} objects of {a.lib}"
    for b in bad:
        print(b, file=sys.stderr)
    if bad:
        print(f"layers.py {a.check}: {len(bad)} problem(s) in {what}", file=sys.stderr)
        return 1
    print(f"layers.py {a.check}: {what}, no loops, every folder uses only those below it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
