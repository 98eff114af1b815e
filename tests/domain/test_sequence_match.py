"""The shortest-edit-script matcher behind the diff: as many elements matched as a longest
common subsequence has (checked against a brute-force LCS), and a bounded fallback."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.sequence_match import matching_blocks

words = st.lists(st.sampled_from(["a", "b", "c", "patient", "reports"]), max_size=14)


def lcs_length(a: list[str], b: list[str]) -> int:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) - 1, -1, -1):
        for j in range(len(b) - 1, -1, -1):
            table[i][j] = (
                table[i + 1][j + 1] + 1 if a[i] == b[j] else max(table[i + 1][j], table[i][j + 1])
            )
    return table[0][0]


def assert_valid(a: list[str], b: list[str], blocks: list[tuple[int, int, int]]) -> None:
    end_a = end_b = 0
    for i, j, n in blocks:
        assert n > 0 and i >= end_a and j >= end_b
        assert a[i : i + n] == b[j : j + n]
        end_a, end_b = i + n, j + n


@given(a=words, b=words)
@settings(max_examples=500, deadline=None)
def test_matches_as_many_elements_as_a_longest_common_subsequence(
    a: list[str], b: list[str]
) -> None:
    blocks = matching_blocks(a, b)
    assert_valid(a, b, blocks)
    assert sum(n for _, _, n in blocks) == lcs_length(a, b)


def test_repetitive_text_where_difflib_is_not_minimal() -> None:
    a = ["reports", "patient", "reports", "patient"]
    b = ["reports", "reports", "patient"]
    assert matching_blocks(a, b) == [(0, 0, 1), (2, 1, 2)]  # one word deleted, nothing inserted


@given(a=words, b=words)
@settings(max_examples=200, deadline=None)
def test_beyond_the_edit_bound_it_falls_back_and_stays_valid(a: list[str], b: list[str]) -> None:
    assert_valid(a, b, matching_blocks(a, b, max_edits=1))
