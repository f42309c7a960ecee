"""Compare two benchmark runs figure by figure.

Usage: .venv/bin/python benchmarks/compare.py A.json B.json [--changed PCT] [--summary]

A and B are JSON records written by ``run_all.py`` (``benchmarks/results/*.json``) or by one
benchmark's ``--json PATH`` (a run of ``run_all.py`` can be compared with one benchmark's record: its
record of that benchmark is used). Every number under ``results`` (machine details left out: they are
in the header) is matched by its path (for example ``records.demo.results.build.seconds``) and
printed with its value in A, in B and the ratio B / A; ``--summary`` keeps only the summary figures
of two ``run_all.py`` files.
The last column says whether B is better or worse where the figure has a direction (times, sizes and
memory: lower is better; rates, speed-ups, ratios, accuracy: higher is better) and it changed by more
than 5 %. ``--changed PCT`` prints only the figures that changed by more than PCT percent. Figures
found in only one of the two files are listed at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

HIGHER = {"speed", "speedup", "ratio", "accuracy", "agreement"}  # words of names where larger is better
LOWER = ("seconds", "_s", "_gb", "_mb", "_ms")  # name endings where a smaller value is better
NOISE = 0.05  # relative change below which no better/worse is claimed


def flatten(node, prefix: str = "") -> dict[str, float]:
    """Every number in a JSON tree by its dotted path (booleans, strings and ``machine`` left out)."""
    out: dict[str, float] = {}
    if isinstance(node, dict):
        for key, value in node.items():
            if key != "machine":
                out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.update(flatten(value, f"{prefix}[{i}]"))
    elif isinstance(node, int | float) and not isinstance(node, bool) and math.isfinite(node):
        out[prefix] = float(node)
    return out


def direction(path: str) -> int:
    """+1 if a larger value is better, -1 if smaller is better, 0 if the figure has no direction.

    The last path component that names a unit or a rate decides (``stages.x.seconds.2``: seconds).
    Targets (``target`` in the path) are settings, not results: no direction.
    """
    if "target" in path:
        return 0
    for part in reversed(path.replace("[", ".").split(".")):
        words = set(re.split(r"[_\s]+", part))
        if part.endswith("per_s") or words & HIGHER:
            return 1
        if "seconds" in words or any(part.endswith(low) for low in LOWER):
            return -1
    return 0


def _num(v: float) -> str:
    return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.4e}"


def comparable(a: dict, b: dict, summary: bool = False) -> tuple[dict, dict]:
    """The ``results`` of both records to compare; a run_all record against a single benchmark's
    record gives that benchmark's record from it; ``summary``: only the summaries of run_all records."""
    if a.get("benchmark") != b.get("benchmark"):
        if a.get("benchmark") == "run_all":
            a = a["results"]["records"].get(b.get("benchmark"), {})
        elif b.get("benchmark") == "run_all":
            b = b["results"]["records"].get(a.get("benchmark"), {})
    ra, rb = a.get("results", {}), b.get("results", {})
    if summary:
        ra, rb = ra.get("summary", {}), rb.get("summary", {})
    return ra, rb


def compare(ra: dict, rb: dict, changed: float = 0.0) -> list[tuple[str, str, str, str, str]]:
    """(figure, A, B, B/A, verdict) rows of the numbers found in both results trees."""
    fa, fb = flatten(ra), flatten(rb)
    rows = []
    for path in [p for p in fa if p in fb]:
        va, vb = fa[path], fb[path]
        ratio = vb / va if va != 0 else (1.0 if vb == 0 else math.inf)
        rel = abs(ratio - 1.0) if math.isfinite(ratio) else math.inf
        if rel * 100 < changed:
            continue
        d = direction(path)
        verdict = ""
        if d and rel > NOISE:
            verdict = "better" if (ratio > 1) == (d > 0) else "worse"
        rows.append((path, _num(va), _num(vb), f"{ratio:.3f}" if math.isfinite(ratio) else "-", verdict))
    return rows


def _describe(rec: dict) -> str:
    m = rec.get("machine", {})
    return (
        f"{rec.get('benchmark')} {rec.get('date')} commit {rec.get('git')} pfatlas {rec.get('pfatlas')}; "
        f"{m.get('cpus')} cpus, load {m.get('load_average')}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--changed", type=float, default=0.0, metavar="PCT", help="only figures changed > PCT %%")
    ap.add_argument("--summary", action="store_true", help="only the summaries of two run_all.py files")
    args = ap.parse_args()
    a = json.loads(args.a.read_text(encoding="utf-8"))
    b = json.loads(args.b.read_text(encoding="utf-8"))
    print(f"A: {args.a}: {_describe(a)}")
    print(f"B: {args.b}: {_describe(b)}")
    ra, rb = comparable(a, b, args.summary)
    rows = compare(ra, rb, args.changed)
    head = ("figure", "A", "B", "B / A", "")
    widths = [max(len(r[i]) for r in [*rows, head]) for i in range(5)]
    for r in [head, *rows]:
        cells = [r[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(r[1:4], widths[1:4], strict=True)), r[4]]
        print("  ".join(cells).rstrip())
    fa, fb = flatten(ra), flatten(rb)
    for label, only in (("A", sorted(set(fa) - set(fb))), ("B", sorted(set(fb) - set(fa)))):
        if only:
            more = f", ... ({len(only) - 12} more)" if len(only) > 12 else ""
            print(f"only in {label} ({len(only)}): {', '.join(only[:12])}{more}")


if __name__ == "__main__":
    main()
