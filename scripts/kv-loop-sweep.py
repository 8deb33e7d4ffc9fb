#!/usr/bin/env python3
"""Local-memory accesses in the kv loops of the sm_90a attention kernel for every pair of
examples/mods.flex's score and mask mods (and none), at head dims 64, 128 and 256, with the
mods' buffer reads checked and proved in bounds: the figures of docs/attention-hopper.md,
"Local memory". No GPU: flexc writes each kernel's PTX, scripts/sass-loops.py assembles it
(ptxas, cuobjdump) and reads its kv loops.

  python3 scripts/kv-loop-sweep.py [--flexc PATH] [--jobs N] [--all]
                                   [--scores A,B] [--masks A,B] [--dims 64,128] [--reads checked]
                                   [--exp2] [--flexc-arg ARG ...]

Prints one line per kernel that keeps a value in local memory inside a kv loop (with --all,
every kernel): score, mask, head dim, reads, then each kv loop's accesses and instruction
count (the masked tiles' loop first); with --exp2 also its ex2 under P.V, the softmax that
overlaps the GEMM (docs/attention-hopper.md, "Pinned wait"). A kv loop that flexjit-unswitch-invariant-reports split
shows its copy with the out-of-bounds reports in brackets, not counted: it runs only where a
read may fail. --scores, --masks (`none` for no mod), --dims and --reads
narrow the sweep. A pair that reads no buffer has one kernel (its
proved-reads PTX is the checked one's), counted once.
"""
import argparse
import concurrent.futures
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KV_LOOP = re.compile(r"^kv loop 0x[0-9a-f]+-0x[0-9a-f]+: (\d+) instructions, (\d+) local-memory"
                     r" accesses, (\d+) MUFU.EX2 under P.V")


class SweepError(Exception):
    pass


def mods(kind):
    text = open(os.path.join(ROOT, "examples", "mods.flex")).read()
    return re.findall(rf"^{kind} (\w+)\(", text, re.M)


def sweep_one(flexc, extra, tmp, score, mask, d, proved):
    args = [flexc, "attention", os.path.join(ROOT, "examples", "mods.flex"), "--head-dim", str(d)]
    args += extra
    if score:
        args += ["--score", score]
    if mask:
        args += ["--mask", mask]
    if proved:
        args.append("--unchecked-reads")
    ptx = os.path.join(tmp, f"{score}-{mask}-{d}-{int(proved)}.ptx")
    what = f"score {score or 'none'}, mask {mask or 'none'}, D {d}"
    done = subprocess.run(args + ["-o", ptx], capture_output=True, text=True)
    if done.returncode != 0:
        raise SweepError(f"flexc failed on {what}:\n{done.stderr.strip()}")
    done = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "sass-loops.py"), ptx],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SweepError(f"scripts/sass-loops.py failed on {what}:\n{done.stderr.strip()}")
    out = done.stdout
    loops = [(int(m.group(2)), int(m.group(1)), "(with the reports" in line, int(m.group(3)))
             for line in out.splitlines() for m in [KV_LOOP.match(line)] if m]
    # A pair that reads no buffer compiles the same kernel either way but for its name.
    text = open(ptx).read().replace("_nochk", "")
    return score, mask, d, proved, loops, hash(text)


def pick(kind, wanted):
    """The mods of `kind` named in `wanted` (comma-separated, `none` for no mod), else all."""
    known = [""] + mods(kind)
    if not wanted:
        return known
    names = ["" if w == "none" else w for w in wanted.split(",")]
    unknown = [w for w in names if w not in known]
    if unknown:
        sys.exit(f"kv-loop-sweep: no {kind} mod {', '.join(unknown)} in examples/mods.flex")
    return names


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--flexc", default=os.path.join(ROOT, "build", "tools", "flexc", "flexc"))
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--all", action="store_true", help="print every kernel, not only those with accesses")
    p.add_argument("--scores", help="comma-separated score mods (none: no score mod); default all")
    p.add_argument("--masks", help="comma-separated mask mods (none: no mask mod); default all")
    p.add_argument("--dims", default="64,128,256", help="head dims (default 64,128,256)")
    p.add_argument("--reads", choices=("checked", "proved", "both"), default="both")
    p.add_argument("--flexc-arg", action="append", default=[],
                   help="one more argument for every flexc call (repeatable), such as "
                        "--no-pinned-wait, to sweep with a technique off")
    p.add_argument("--exp2", action="store_true",
                   help="also each loop's ex2 under P.V (the softmax overlapped with the GEMM) "
                        "and a count of the loops with none")
    a = p.parse_args()
    if not (os.path.isfile(a.flexc) and os.access(a.flexc, os.X_OK)):
        sys.exit(f"kv-loop-sweep: no flexc at {a.flexc} (build it, or pass --flexc)")
    if a.jobs < 1:
        sys.exit(f"kv-loop-sweep: --jobs must be at least 1, not {a.jobs}")
    scores = pick("score", a.scores)
    masks = pick("mask", a.masks)
    try:
        dims = [int(d) for d in a.dims.split(",")]
    except ValueError:
        sys.exit(f"kv-loop-sweep: --dims takes head dims such as 64,128, not '{a.dims}'")
    reads = {"checked": (False,), "proved": (True,), "both": (False, True)}[a.reads]
    jobs = [(s, m, d, proved) for s in scores for m in masks for d in dims for proved in reads]
    with tempfile.TemporaryDirectory() as tmp, \
            concurrent.futures.ThreadPoolExecutor(a.jobs) as pool:
        try:
            results = list(pool.map(lambda j: sweep_one(a.flexc, a.flexc_arg, tmp, *j), jobs))
        except SweepError as e:
            sys.exit(f"kv-loop-sweep: {e}")
    seen, kernels, with_accesses, loops_run, without_overlap = {}, 0, 0, 0, 0
    for score, mask, d, proved, loops, ptx in results:
        key = (score, mask, d)
        if proved and seen.get(key) == ptx:
            continue
        seen[key] = ptx
        kernels += 1
        # The loops that keep reports (unswitched, run only where a read may
        # fail) are shown in brackets and not counted.
        accesses = sum(n for n, _, reports, _ in loops if not reports)
        with_accesses += accesses > 0
        loops_run += sum(not reports for _, _, reports, _ in loops)
        without_overlap += sum(not reports and e == 0 for _, _, reports, e in loops)

        def shown(n, i, e):
            return f"{n} of {i}" + (f", {e} ex2" if a.exp2 else "")
        if accesses or a.all:
            print(f"{score or 'none'} {mask or 'none'} D{d} {'proved' if proved else 'checked'}: " +
                  " + ".join((f"[{shown(n, i, e)}]" if reports else shown(n, i, e))
                             for n, i, reports, e in loops))
    print(f"{with_accesses} of {kernels} distinct kernels keep a value in local memory in a kv loop "
          "(not counting the loops in brackets: those with the out-of-bounds reports, run only "
          "where a read may fail)")
    if a.exp2:
        print(f"{without_overlap} of their {loops_run} kv loops not in brackets have no ex2 under "
              "P.V")


if __name__ == "__main__":
    main()
