#!/usr/bin/python3
"""flamegraph.py - a flame graph picture from `perf script` output, with matplotlib only (no downloads).

usage: perf script -i perf.data | perf/flamegraph.py --title TITLE --out flame.png [--folded out.folded]
       perf/flamegraph.py --folded-in stacks.folded --out flame.png

Folds each sample's call chain into "thread;outermost;...;innermost" (the thread's name first, so each stage of
v2xd is its own tower), weighted by the sample's period, then draws one box per frame: the width is the share of
samples whose stack passes through it, the height the call depth.  Boxes narrower than 0.1 % of the width, and
levels deeper than any stack holding 0.5 % of the samples, are left out; labels are drawn where they fit.  --folded also writes the folded stacks (the format of Brendan Gregg's
stackcollapse scripts), one "stack count" per line.
"""
import argparse
import collections
import hashlib
import re
import sys

HEADER = re.compile(r"^(?P<comm>\S.*?)\s+(?P<tid>\d+)(/\d+)?\s+(\[\d+\]\s+)?[\d.]+:\s+(?P<period>\d+)?\s*\S+:")


def fold(lines):
    """Returns Counter{folded stack: weight} from perf script text."""
    stacks = collections.Counter()
    comm, period, frames = None, 1, []

    def flush():
        if comm is not None:
            chain = [comm] + list(reversed(frames)) if frames else [comm, "[no stack]"]
            stacks[";".join(chain)] += period

    for line in lines:
        if not line.strip():
            flush()
            comm, frames = None, []
            continue
        if not line[0].isspace():
            flush()
            frames = []
            m = HEADER.match(line)
            if m:
                comm = m.group("comm").strip().replace(";", ":")
                period = int(m.group("period")) if m.group("period") else 1
            else:
                comm = line.split()[0]
                period = 1
            continue
        parts = line.strip().split(None, 1)
        if len(parts) < 2:
            continue
        rest = parts[1]
        dso = ""
        if rest.endswith(")") and " (" in rest:
            rest, dso = rest.rsplit(" (", 1)
            dso = dso[:-1].rsplit("/", 1)[-1]
        sym = re.sub(r"\+0x[0-9a-f]+$", "", rest.strip())
        if sym in ("[unknown]", ""):
            sym = dso if dso.startswith("[") else "[%s]" % (dso or "unknown")
        sym = sym.replace(";", ":")
        if sym.startswith("[") and frames and frames[-1] == sym:
            continue  # a run of unresolved frames (a walk through code without frame pointers) is one box
        frames.append(sym)
    flush()
    return stacks


def build_tree(stacks):
    root = {"name": "all", "value": 0, "children": {}}
    for stack, n in stacks.items():
        root["value"] += n
        node = root
        for name in stack.split(";"):
            ch = node["children"].get(name)
            if ch is None:
                ch = node["children"][name] = {"name": name, "value": 0, "children": {}}
            ch["value"] += n
            node = ch
    return root


def colour(name):
    h = int(hashlib.md5(name.encode()).hexdigest()[:6], 16)
    if name.startswith("[") or "kernel" in name:
        return (0.85 + (h % 15) / 100.0, 0.55 + (h >> 8) % 30 / 100.0, 0.35)  # kernel / unknown: orange
    return (0.95, 0.35 + (h % 50) / 100.0, 0.15 + (h >> 8) % 20 / 100.0)    # user code: red to yellow


def draw(root, title, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle
    total = root["value"] or 1
    boxes = []  # (x, depth, width, name)

    def walk(node, x, depth):
        boxes.append((x, depth, node["value"] / total, node["name"]))
        cx = x
        for ch in sorted(node["children"].values(), key=lambda c: c["name"]):
            w = ch["value"] / total
            if w >= 0.001:
                walk(ch, cx, depth + 1)
            cx += w

    walk(root, 0.0, 0)
    # The picture is as tall as the deepest stack holding 0.5 % of the samples; deeper frames (a stray stack
    # walked through a library without frame pointers can be 100 levels of garbage) are counted in the widths
    # below them but not drawn.
    maxd = max(b[1] for b in boxes if b[2] >= 0.005) + 1
    boxes = [b for b in boxes if b[1] < maxd]
    fig_w = 16
    fig, ax = plt.subplots(figsize=(fig_w, max(4, 0.22 * maxd + 1.2)))
    for x, d, w, name in boxes:
        ax.add_patch(Rectangle((x, d), w, 0.95, facecolor=colour(name), edgecolor="white", linewidth=0.3))
        chars = int(w * fig_w * 72 / 6.5)  # about 6.5 points per character at size 7
        if chars >= 4:
            label = name if len(name) <= chars else name[:chars - 2] + ".."
            ax.text(x + 0.002, d + 0.45, label, fontsize=7, va="center", ha="left", clip_on=True)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, maxd)
    ax.set_yticks([])
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_xticklabels(["0", "25 %", "50 %", "75 %", "100 % of samples"])
    ax.set_title("%s (%d samples weight)" % (title, total), fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="PNG to write")
    ap.add_argument("--title", default="flame graph")
    ap.add_argument("--folded", help="also write the folded stacks here")
    ap.add_argument("--folded-in", help="read folded stacks instead of perf script text on stdin")
    a = ap.parse_args()
    if a.folded_in:
        stacks = collections.Counter()
        with open(a.folded_in) as f:
            for line in f:
                stack, _, n = line.rstrip("\n").rpartition(" ")
                if stack:
                    stacks[stack] += int(n)
    else:
        stacks = fold(sys.stdin)
    if not stacks:
        print("flamegraph.py: no samples in the input", file=sys.stderr)
        return 1
    if a.folded:
        with open(a.folded, "w") as f:
            for stack, n in sorted(stacks.items()):
                f.write("%s %d\n" % (stack, n))
    draw(build_tree(stacks), a.title, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
