#!/usr/bin/env python3
"""The loops of a kernel's SASS, read without a GPU: what the sm_90a attention kernel's kv loops
hold, for a change to its PTX (docs/attention-hopper.md reads these figures).

  python3 scripts/sass-loops.py FILE.ptx      assembles with ptxas (-arch=sm_90a), disassembles
                                              with cuobjdump, then reads the SASS
  python3 scripts/sass-loops.py FILE.sass     reads `cuobjdump -sass` output

For each loop (a backward branch) of 10 instructions or more, shortest first: its address
range, instruction count and most frequent opcodes. For each kv loop (an innermost loop that
issues both the QK^T HGMMA and the P.V one, `tnspB`; a kernel walking a block mask has two, the
masked tiles' and the full ones'): its local-memory accesses (LDL/STL), the MUFU.EX2 between
the two waits (`WARPGROUP.DEPBAR.LE gsb0, 0x1` and `0x0`: the softmax under P.V), and the
order of its barriers, waits, HGMMA batches and global loads. A kv loop that
flexjit-unswitch-invariant-reports split is marked "with the reports" (its copy without them is
the one that runs unless a read may fail). Not loops: the jumps back from the
out-of-line retries of an mbarrier wait (`TRYWAIT; @!P BRA retry; BRA back`), as in
tests/unit/hopper/SassLoops.cpp. Tools: ptxas and cuobjdump from PATH, else
$CUDA_HOME/bin, else /usr/local/cuda/bin, else .deps/cuda-cuobjdump (scripts/bootstrap.sh).
"""
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTR = re.compile(r"\s*/\*([0-9a-f]{4,})\*/\s+(.*?);")
BRANCH = re.compile(r"\bBRA(?:\.U\.ANY)?\s+(?:`\(\S+\)\s*)?0x([0-9a-f]+)")
ORDER = ["HGMMA", "LDG", "LD.E", "BAR.SYNC", "BAR.ARV", "WARPGROUP.DEPBAR", "SYNCS.PHASECHK"]


def tool(name):
    found = shutil.which(name)
    candidates = [found] if found else []
    cuda = os.environ.get("CUDA_HOME")
    if cuda:
        candidates.append(os.path.join(cuda, "bin", name))
    candidates.append(os.path.join("/usr/local/cuda/bin", name))
    candidates.append(os.path.join(ROOT, ".deps", "cuda-cuobjdump", "nvidia", "cu13", "bin", name))
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    sys.exit(f"sass-loops: {name} not found (PATH, $CUDA_HOME/bin, /usr/local/cuda/bin, .deps)")


def sass_of(path):
    if not path.endswith(".ptx"):
        with open(path) as f:
            return f.read()
    with tempfile.TemporaryDirectory() as tmp:
        cubin = os.path.join(tmp, "k.cubin")
        run = subprocess.run([tool("ptxas"), "-arch=sm_90a", "-o", cubin, path],
                             capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"sass-loops: ptxas failed on {path}:\n{run.stderr}")
        return subprocess.run([tool("cuobjdump"), "-sass", cubin], capture_output=True,
                              text=True, check=True).stdout


def opcode(text):
    return re.sub(r"^@!?U?P\w+\s+", "", text).split()[0]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    code = [(int(m.group(1), 16), m.group(2).strip())
            for m in map(INSTR.match, sass_of(sys.argv[1]).splitlines()) if m]
    index = {a: i for i, (a, _) in enumerate(code)}
    loops = []
    for addr, text in code:
        m = BRANCH.search(text)
        if m and int(m.group(1), 16) < addr:
            start = int(m.group(1), 16)
            # A retry's jump back: the instruction before its target branches
            # forward into the block that jumps back.
            before = index.get(start, 0) - 1
            retry = BRANCH.search(code[before][1]) if before >= 0 else None
            if retry and start < int(retry.group(1), 16) <= addr:
                continue
            loops.append((start, addr, [t for a, t in code if start <= a <= addr]))
    if not loops:
        sys.exit("sass-loops: no loop in this SASS")
    loops.sort(key=lambda l: l[1] - l[0])
    small = [l for l in loops if len(l[2]) < 10]
    if small:
        print(f"{len(small)} loops of under 10 instructions (barrier and copy retries)")
    for start, end, body in loops:
        if len(body) < 10:
            continue
        ops = collections.Counter(opcode(t).split(".")[0] for t in body)
        common = ", ".join(f"{k} {n}" for k, n in ops.most_common(10))
        print(f"loop {start:#x}-{end:#x}: {len(body)} instructions ({common})")
    kv = [l for l in loops
          if any("HGMMA" in t and "tnspB" not in t for t in l[2]) and any("tnspB" in t for t in l[2])]
    kv = [l for l in kv if not any(o is not l and l[0] <= o[0] and o[1] <= l[1] for o in kv)]
    if not kv:
        print("no kv loop (no loop with both GEMMs)")
        return
    with_reports = reported_loops(code, sorted(kv))
    for start, end, body in sorted(kv):
        kv_loop(start, end, body, start in with_reports)


RESULT = re.compile(r"^B2R\.RESULT\s+\w+,\s+(P\d)$")
CHOICE = re.compile(r"^@(!?)(P\d)\s+BRA\s+0x([0-9a-f]+)$")


def reported_loops(code, kv):
    """The starts of the kv loops that keep out-of-bounds reports where
    flexjit-unswitch-invariant-reports split a loop: after the warpgroup's vote (BAR.RED.OR, its
    result read by B2R.RESULT into a predicate), the branch ending the block chooses between the
    loop with the reports and its copy without them (@!P: to the copy)."""
    found = set()
    for i, (_, text) in enumerate(code):
        m = RESULT.match(text)
        if not m:
            continue
        for j in range(i + 1, len(code)):
            if "BRA" not in code[j][1]:
                continue
            b = CHOICE.match(code[j][1])
            if b and b.group(2) == m.group(1):
                target = int(b.group(3), 16)
                after = code[j + 1][0] if j + 1 < len(code) else target
                at = after if b.group(1) == "!" else target
                first = next((l[0] for l in kv if l[0] >= at), None)
                if first is not None:
                    found.add(first)
            break
    return found


def kv_loop(start, end, body, with_reports=False):
    local = sum(1 for t in body if opcode(t).startswith(("LDL", "STL")))
    under, ex2 = False, 0
    for t in body:
        if "DEPBAR.LE gsb0, 0x1" in t:
            under = True
        elif "DEPBAR.LE gsb0, 0x0" in t:
            under = False
        ex2 += under and "MUFU.EX2" in t
    order = []
    for t in body:
        op = opcode(t)
        name = next((k for k in ORDER if op.startswith(k)), None)
        if name == "HGMMA":
            name = "HGMMA(PV)" if "tnspB" in t else "HGMMA(QK)"
        if name:
            if order and order[-1][0] == name:
                order[-1][1] += 1
            else:
                order.append([name, 1])
    print(f"kv loop {start:#x}-{end:#x}: {len(body)} instructions, {local} local-memory accesses, "
          f"{ex2} MUFU.EX2 under P.V" + (" (with the reports: run where a read may fail)"
                                        if with_reports else ""))
    print("kv loop order: " + " ".join(f"{k}x{n}" for k, n in order))


if __name__ == "__main__":
    main()
