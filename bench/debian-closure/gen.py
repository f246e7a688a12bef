#!/usr/bin/env python3
"""Mirror installed Debian packages into a Nix flake (one store path per package).

    gen.py OUTDIR            called by make.sh

Reads dpkg's database, resolves Depends + Pre-Depends to installed packages,
takes the union of the closures of the two apps' roots, breaks Debian's
dependency cycles (Nix cannot have them), stages each package's files into
OUTDIR/src/<pkg>/ (hard links where possible) and writes OUTDIR/graph.json,
which OUTDIR/flake.nix reads. Prints a summary on stderr.
"""
import json
import os
import re
import shutil
import stat as S
import subprocess
import sys
from collections import defaultdict

# The two "images". appA: a Python/numerical app; appB: a Perl/git tool.
ROOTS = {
    "appA": ["python3", "python3-numpy", "python3-scipy", "python3-pandas",
             "python3-matplotlib", "python3-sklearn", "python3-sympy",
             "python3-lxml", "python3-requests", "python3-yaml"],
    "appB": ["perl", "git", "git-svn", "libdbi-perl", "libdbd-sqlite3-perl",
             "libwww-perl", "libjson-perl", "perl-doc", "openssl", "curl"],
}
# App sources: real text copied from installed files (app dir -> {dest: source}).
APP_FILES = {
    "appA": {"core.py": "/usr/lib/python3.11/argparse.py"},
    "appB": {"lib/AppB/Temp.pm": "/usr/share/perl/5.36.0/File/Temp.pm"},
}
BUMP_CANDIDATES = ["libexpat1", "libffi8", "libssl3", "zlib1g", "libc6"]
DEFAULT_BUMP = os.environ.get("BUMP", "libexpat1")
SKIP_BASENAMES = {".gitignore", ".gitattributes", ".gitmodules", ".git"}


def log(*a):
    print("gen:", *a, file=sys.stderr, flush=True)


def dpkg_db():
    fmt = ("${binary:Package}\t${Package}\t${Architecture}\t${Version}\t"
           "${db:Status-Abbrev}\t${Pre-Depends}\t${Depends}\t${Provides}\t"
           "${Installed-Size}\n")
    out = subprocess.run(["dpkg-query", "-W", "-f", fmt], check=True,
                         capture_output=True, text=True).stdout
    native = subprocess.run(["dpkg", "--print-architecture"], check=True,
                            capture_output=True, text=True).stdout.strip()
    pkgs = {}
    for line in out.splitlines():
        f = line.split("\t")
        if len(f) < 9 or not f[4].startswith("ii"):
            continue
        binpkg, name, arch, ver, _, pre, dep, prov, isz = f[:9]
        if name in pkgs and arch not in (native, "all"):
            continue  # prefer the native one of a multi-arch pair
        pkgs[name] = {"binpkg": binpkg, "version": ver, "arch": arch,
                      "pre": pre, "dep": dep, "prov": prov, "isize": isz}
    return pkgs


ALT_RE = re.compile(r"^\s*([a-z0-9][a-z0-9+.\-]*)(?::[a-z0-9\-]+)?\s*(\(([^)]*)\))?")


def parse_rel(s):
    """'a (>= 1) | b, c' -> [[('a', '>= 1'), ('b', None)], [('c', None)]]"""
    clauses = []
    for clause in s.split(","):
        if not clause.strip():
            continue
        alts = []
        for alt in clause.split("|"):
            m = ALT_RE.match(alt)
            if m:
                alts.append((m.group(1), m.group(3)))
        if alts:
            clauses.append(alts)
    return clauses


def resolve_graph(pkgs):
    providers = defaultdict(list)
    for name, p in pkgs.items():
        for clause in parse_rel(p["prov"]):
            for virt, _ in clause:
                providers[virt].append(name)
    deps, unresolved = {}, []
    for name, p in pkgs.items():
        out = []
        for clause in parse_rel(p["pre"]) + parse_rel(p["dep"]):
            target = None
            for alt, _ in clause:  # alternatives: the first one installed
                if alt in pkgs:
                    target = alt
                    break
                if providers.get(alt):  # virtual: an installed provider
                    target = sorted(providers[alt])[0]
                    break
            if target is None:
                unresolved.append((name, clause))
            elif target != name and target not in out:
                out.append(target)
        deps[name] = out
    return deps, unresolved


def closure(deps, roots):
    seen, stack = set(), list(roots)
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        stack.extend(deps[n])
    return seen


def sccs(nodes, deps):
    """Tarjan's algorithm, iterative. Returns a list of node lists."""
    index, low, on, st, out, counter = {}, {}, set(), [], [], [0]
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(d for d in deps[root] if d in nodes)))]
        index[root] = low[root] = counter[0]; counter[0] += 1
        st.append(root); on.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]; counter[0] += 1
                    st.append(w); on.add(w)
                    work.append((w, iter(sorted(d for d in deps[w] if d in nodes))))
                    advanced = True
                    break
                elif w in on:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = st.pop(); on.discard(w); comp.append(w)
                    if w == v:
                        break
                out.append(comp)
    return out


def break_cycles(nodes, deps, indeg, roots):
    """Nix paths cannot reference each other in a cycle, Debian packages can.
    Inside each strongly connected component, put the members in an order and
    keep only the edges that go forward in it: first the members entered from
    outside the component (or roots), least depended-on first (reverse-
    dependency count among all installed packages), then the others in
    breadth-first order from those, so that every member stays reachable.
    Edges between components are all kept."""
    dag = {n: list(deps[n]) for n in nodes}
    dropped = []
    for comp in sccs(nodes, deps):
        if len(comp) < 2:
            continue
        members = set(comp)
        entries = {n for n in comp if n in roots}
        for u in nodes:
            if u not in members:
                entries |= members & set(deps[u])
        order = sorted(entries, key=lambda n: (indeg[n], n))
        i = 0
        while i < len(order):
            for v in sorted(members & set(deps[order[i]])):
                if v not in order:
                    order.append(v)
            i += 1
        pos = {n: k for k, n in enumerate(order)}
        for u in comp:
            keep = []
            for v in dag[u]:
                if v in pos and pos[v] < pos[u]:
                    dropped.append((u, v))
                else:
                    keep.append(v)
            dag[u] = keep
    return dag, dropped


def store_name(s):
    s = re.sub(r"[^A-Za-z0-9+._?=-]", "_", s)
    return s.lstrip(".") or "x"


def dpkg_files(binpkg):
    """(path listed, path to read the content from) of a package's entries."""
    out = subprocess.run(["dpkg", "-L", binpkg], check=True,
                         capture_output=True, text=True).stdout.splitlines()
    entries = []
    for line in out:
        if line.startswith("/"):
            entries.append([line, line])
        elif line.startswith("diverted by ") and entries:
            # this package's own file lives at the diverted-to path
            entries[-1][1] = line.split(" to: ", 1)[1]
        # "package diverts others to: ..." : the listed path is our own file
    return entries


def stage(pkgs, union, srcdir):
    os.makedirs(srcdir)
    owner, stats = {}, defaultdict(int)
    has_files = {}
    for name in sorted(union):
        root = os.path.join(srcdir, name)
        os.makedirs(root)
        n = 0
        entries = dpkg_files(pkgs[name]["binpkg"])
        parents = {os.path.dirname(l) for l, _ in entries}
        for listed, real in entries:
            if listed == "/." or listed in parents:
                continue  # a directory (maybe a /usr-merge symlink on the host)
            try:
                st = os.lstat(real)
            except OSError:
                stats["missing"] += 1  # removed conffile, excluded doc…
                continue
            if S.S_ISDIR(st.st_mode):
                continue
            if not (S.S_ISREG(st.st_mode) or S.S_ISLNK(st.st_mode)):
                stats["special"] += 1
                continue
            if os.path.basename(listed) in SKIP_BASENAMES:
                stats["git-metadata skipped"] += 1
                continue
            # the same file under a /usr-merge alias, listed by another package
            key = os.path.join(os.path.realpath(os.path.dirname(listed)),
                               os.path.basename(listed))
            if owner.setdefault(key, name) != name:
                stats["owned by another package"] += 1
                continue
            dst = os.path.join(root, listed.lstrip("/"))
            if os.path.lexists(dst):
                stats["duplicate"] += 1
                continue
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if S.S_ISLNK(st.st_mode):
                os.symlink(os.readlink(real), dst)
            else:
                if not os.access(real, os.R_OK):
                    stats["unreadable"] += 1
                    continue
                try:
                    os.link(real, dst)
                    stats["hard-linked"] += 1
                except OSError:
                    shutil.copy2(real, dst)
                    stats["copied"] += 1
            n += 1
        has_files[name] = n > 0
        if n == 0:
            os.rmdir(root)
    return has_files, dict(stats)


def write_apps(outdir):
    for app, files in APP_FILES.items():
        for dest, src in files.items():
            d = os.path.join(outdir, "apps", app, dest)
            os.makedirs(os.path.dirname(d), exist_ok=True)
            shutil.copyfile(src, d)


def main():
    outdir = os.path.abspath(sys.argv[1])
    pkgs = dpkg_db()
    deps, unresolved = resolve_graph(pkgs)
    for app, roots in ROOTS.items():
        missing = [r for r in roots if r not in pkgs]
        if missing:
            sys.exit(f"gen: {app}: not installed: {' '.join(missing)}")
    indeg = defaultdict(int)
    for n, ds in deps.items():
        for d in ds:
            indeg[d] += 1
    debian_union = set().union(*(closure(deps, r) for r in ROOTS.values()))
    dag, dropped = break_cycles(debian_union, deps, indeg,
                                 set().union(*ROOTS.values()))
    per_app = {a: closure(dag, r) for a, r in ROOTS.items()}
    union = set().union(*per_app.values())
    lost = debian_union - union
    log(f"{len(pkgs)} installed; union of closures: {len(union)} packages "
        f"(appA {len(per_app['appA'])}, appB {len(per_app['appB'])}, "
        f"shared {len(per_app['appA'] & per_app['appB'])}); "
        f"{sum(len(dag[n]) for n in union)} edges; {len(dropped)} cycle edges dropped: "
        + ", ".join(f"{u}->{v}" for u, v in sorted(dropped)))
    if lost:
        log("WARNING: unreachable after breaking cycles:", " ".join(sorted(lost)))
    bad = [(n, c) for n, c in unresolved if n in union]
    if bad:
        log("unresolved dependencies (dropped):", bad)

    # how many of appA's paths change when one library is bumped
    rdeps = defaultdict(set)
    for n in union:
        for d in dag[n]:
            rdeps[d].add(n)

    def dependents(p):
        return closure({n: list(rdeps[n]) for n in union}, [p]) & per_app["appA"]

    bump_stats = {}
    for c in BUMP_CANDIDATES:
        if c in per_app["appA"]:
            bump_stats[c] = len(dependents(c))
    log("packages of appA changed by a bump (incl. itself; +1 for appA):", bump_stats)
    if DEFAULT_BUMP not in per_app["appA"]:
        sys.exit(f"gen: bump target {DEFAULT_BUMP} is not in appA's closure")

    for sub in ("src", "apps"):
        shutil.rmtree(os.path.join(outdir, sub), ignore_errors=True)
    has_files, stats = stage(pkgs, union, os.path.join(outdir, "src"))
    log("staged:", stats, "; packages without files:",
        " ".join(sorted(n for n, h in has_files.items() if not h)) or "none")
    write_apps(outdir)
    # NAR hashes of the staged trees: with them builtins.path need not read a
    # tree again once its store path exists (an evaluation takes seconds, not ~30)
    staged = sorted(n for n in union if has_files[n])
    hashes = subprocess.run(
        ["nix-hash", "--type", "sha256", "--base32"]
        + [os.path.join(outdir, "src", n) for n in staged],
        check=True, capture_output=True, text=True).stdout.split()
    nar = dict(zip(staged, hashes))

    graph = {
        "packages": {
            n: {"name": store_name(f"{n}-{pkgs[n]['version']}"),
                "version": pkgs[n]["version"],
                "deps": sorted(dag[n]),
                "src": has_files[n],
                "srcNarHash": nar.get(n, "")}
            for n in sorted(union)
        },
        "roots": ROOTS,
        "bump": DEFAULT_BUMP,
    }
    with open(os.path.join(outdir, "graph.json"), "w") as f:
        json.dump(graph, f, indent=1, sort_keys=True)
    meta = {
        "debianPackages": {a: len(s) for a, s in per_app.items()},
        "union": len(union),
        "droppedCycleEdges": [f"{u} -> {v}" for u, v in sorted(dropped)],
        "bump": DEFAULT_BUMP,
        "bumpDependentsInAppA": len(dependents(DEFAULT_BUMP)),
        "bumpCandidates": bump_stats,
        "staging": stats,
        "installedSizeKiB": sum(int(pkgs[n]["isize"] or 0) for n in union),
    }
    with open(os.path.join(outdir, "graph-stats.json"), "w") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main()
