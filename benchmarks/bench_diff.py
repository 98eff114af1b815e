"""Diff speed: a 100 KB note with edits spread through it (target: <= 50 ms).

    .venv/bin/python benchmarks/bench_diff.py [--runs 20]

Cases: a note with line breaks and 100 scattered edits; the same text as one long paragraph;
a complete rewrite (worst case, bounded by design). Reports min/median/max per diff (inline
and side-by-side are computed together by ``diff_text``). The UI runs the diff off the event
loop thread; the longest event-loop stall is measured by the UI benchmark, not here.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.domain.diff import diff_text

TARGET_MS = 50.0
WORDS = [
    "patient",
    "reports",
    "intermittent",
    "headache",
    "worse",
    "mornings",
    "denies",
    "chest",
    "pain",
    "dyspnoea",
    "palpitations",
    "blood",
    "pressure",
    "elevated",
    "home",
    "readings",
    "systolic",
    "diastolic",
    "metformin",
    "lisinopril",
    "increase",
    "dose",
    "recheck",
    "months",
    "hemoglobin",
    "a1c",
    "above",
    "target",
    "counselled",
    "diet",
    "exercise",
    "follow",
    "up",
    "clinic",
    "nurse",
    "review",
    "labs",
    "ordered",
    "renal",
    "function",
    "electrolytes",
    "urine",
    "albumin",
    "creatinine",
]


def long_note(seed: int, size: int = 100_000) -> str:
    rnd = random.Random(seed)
    vocab = [f"{w}{i % 97}" if i % 3 else w for i, w in enumerate(WORDS * 60)]
    lines: list[str] = []
    total = 0
    while total < size:
        line = " ".join(rnd.choices(vocab, k=rnd.randint(6, 25))) + ".\n"
        if rnd.random() < 0.15:
            line += "\n"
        lines.append(line)
        total += len(line)
    return "".join(lines)


def spread_edits(text: str, seed: int, edits: int = 100) -> str:
    rnd = random.Random(seed)
    tokens = text.split(" ")
    for _ in range(edits):
        i = rnd.randrange(len(tokens))
        tokens[i] = rnd.choice(["", "amended", "two new words", "inserted line\n"])
    return " ".join(tokens)


def measure(a: str, b: str, runs: int) -> list[float]:
    diff_text(a, b)
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        diff_text(a, b)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    base = long_note(1)
    cases = {
        "100 KB, lines, 100 spread edits": (base, spread_edits(base, 2)),
        "100 KB, one paragraph, 100 spread edits": (
            base.replace("\n", " "),
            spread_edits(base.replace("\n", " "), 3),
        ),
        "100 KB, completely rewritten (worst case)": (base, long_note(4)),
    }
    verdict = True
    for name, (a, b) in cases.items():
        t = measure(a, b, args.runs)
        d = diff_text(a, b)
        assert d.baseline == a and d.current == b
        print(
            f"{name}: min {min(t):.1f} ms  median {statistics.median(t):.1f} ms  max {max(t):.1f} ms"
            f"  ({len(a) // 1000} KB -> {len(b) // 1000} KB, {len(d.spans)} spans, {len(d.rows)} rows)"
        )
        if "spread" in name:
            verdict &= statistics.median(t) <= TARGET_MS
    print(f"target: median <= {TARGET_MS} ms for spread edits -> {'PASS' if verdict else 'MISS'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
