"""Which elements of two sequences (words, chunks of words) are the same: a minimal diff.

``difflib.SequenceMatcher`` matches the longest common block first; on repetitive text that is
not minimal ("reports patient reports patient" → "reports reports patient" comes out as one
word inserted and two deleted, though only one was deleted), and a diff shown to a clinician
must never show a change that was not made. So matching uses Myers' O(ND) algorithm (E. Myers,
"An O(ND) Difference Algorithm and Its Variations", 1986), which finds a *shortest* edit
script: when the new text is the old one with words inserted, the script is exactly those
insertions. Its cost grows with the number of differences D, so it is bounded: beyond
``max_edits`` (a text rewritten from scratch, where "which change was made" has no answer) it
falls back to difflib, which stays fast whatever the input.
"""

from __future__ import annotations

from collections.abc import Sequence
from difflib import SequenceMatcher

Block = tuple[int, int, int]  # (start in a, start in b, length) of a run of equal elements

DEFAULT_MAX_EDITS = 200


def matching_blocks(
    a: Sequence[str],
    b: Sequence[str],
    *,
    max_edits: int = DEFAULT_MAX_EDITS,
    autojunk: bool = False,
) -> list[Block]:
    """Runs of equal elements in order, from a shortest edit script where that takes at most
    ``max_edits`` insertions and deletions, else from difflib (no zero-length sentinel)."""
    head = 0
    while head < len(a) and head < len(b) and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < len(a) - head and tail < len(b) - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    middle = _myers(a[head : len(a) - tail], b[head : len(b) - tail], max_edits)
    if middle is None:
        matcher = SequenceMatcher(None, a, b, autojunk=autojunk)
        return [blk for blk in matcher.get_matching_blocks() if blk[2]]
    blocks: list[Block] = [(0, 0, head)] if head else []
    blocks += [(i + head, j + head, n) for i, j, n in middle]
    if tail:
        blocks.append((len(a) - tail, len(b) - tail, tail))
    return _joined(blocks)


def _myers(a: Sequence[str], b: Sequence[str], max_edits: int) -> list[Block] | None:
    """The equal runs of a shortest edit script of a into b; None when it is longer than
    ``max_edits``. The greedy forward algorithm, keeping each round's furthest points for the
    walk back."""
    n, m = len(a), len(b)
    if n == 0 or m == 0:
        return []
    furthest: dict[int, int] = {1: 0}  # diagonal k = x - y -> furthest x reached on it
    rounds: list[dict[int, int]] = []
    for d in range(min(n + m, max_edits) + 1):
        rounds.append(furthest.copy())
        for k in range(-d, d + 1, 2):
            if k == -d or (k != d and furthest[k - 1] < furthest[k + 1]):
                x = furthest[k + 1]  # down: an element of b inserted
            else:
                x = furthest[k - 1] + 1  # right: an element of a deleted
            y = x - k
            while x < n and y < m and a[x] == b[y]:
                x, y = x + 1, y + 1
            furthest[k] = x
            if x >= n and y >= m:
                return _walk_back(rounds, n, m)
    return None


def _walk_back(rounds: list[dict[int, int]], n: int, m: int) -> list[Block]:
    blocks: list[Block] = []
    x, y = n, m
    for d in range(len(rounds) - 1, -1, -1):
        furthest = rounds[d]
        k = x - y
        down = k == -d or (k != d and furthest[k - 1] < furthest[k + 1])
        prev_k = k + 1 if down else k - 1
        prev_x = furthest[prev_k]
        prev_y = prev_x - prev_k
        # the snake: equal elements walked diagonally after the edit of this round
        start_x = prev_x if d == 0 or down else prev_x + 1
        start_y = start_x - k
        if x > start_x:
            blocks.append((start_x, start_y, x - start_x))
        x, y = prev_x, prev_y
    blocks.reverse()
    return blocks


def _joined(blocks: list[Block]) -> list[Block]:
    out: list[Block] = []
    for i, j, n in blocks:
        if out and out[-1][0] + out[-1][2] == i and out[-1][1] + out[-1][2] == j:
            pi, pj, pn = out[-1]
            out[-1] = (pi, pj, pn + n)
        elif n:
            out.append((i, j, n))
    return out
