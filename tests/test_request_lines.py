"""``_RequestLines.matching``: the bulk glob match of statement masks equals matching ARN by ARN.

IAM resource globs are whole-string and case-sensitive, and ``*``/``?`` cross ``/`` and ``:``
("IAM JSON policy elements: Resource"). The scan takes a literal-prefix slice of the sorted lines when
the prefix selects few of them, and one regex over the joined text otherwise: both must give exactly
the lines ``ResourcePattern.match`` accepts.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from blastradius.graph import _RequestLines
from blastradius.policy import Context, Tri
from blastradius.policy.match import ResourcePattern

LINES = sorted(
    {
        *(
            f"arn:aws:s3:::team-{t}-{kind}-{i:03d}/*"
            for t in "abc"
            for kind in ("exports", "logs")
            for i in range(40)
        ),
        *(f"arn:aws:s3:::team-{t}-exports-{i:03d}" for t in "ab" for i in range(30)),
        *(f"arn:aws:s3:::Shared-{i}/reports/x" for i in range(5)),
        "arn:aws:s3:::other/a?b",
    }
)
REQUEST = _RequestLines(list(LINES), list(range(len(LINES))))


def expected(pattern: str) -> set[int]:
    compiled = ResourcePattern(pattern, variables=False)
    ctx = Context.exact()
    return {i for i, line in enumerate(LINES) if compiled.match(line, ctx) is Tri.YES}


def test_prefix_slice_and_whole_text_scan_agree_with_arn_by_arn_matching() -> None:
    for pattern in (
        "arn:aws:s3:::team-a-*/*",  # few lines start with the literal part: prefix slice
        "arn:aws:s3:::team-*-exports-*",  # many do: whole-text scan
        "arn:aws:s3:::*/reports/*",
        "arn:aws:s3:::team-b-logs-00?/*",
        "arn:aws:s3:::shared-*",  # case-sensitive: matches nothing
        "arn:aws:s3:::other/a?b",
        "arn:aws:s3:::team-c-exports-001/*",
    ):
        assert set(REQUEST.matching(pattern)) == expected(pattern), pattern


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(["team-", "a", "b", "-exports", "-", "0", "1", "/", "*", "?", "S"]), max_size=8)
)
def test_any_glob_matches_as_arn_by_arn(parts: list[str]) -> None:
    pattern = "arn:aws:s3:::" + "".join(parts)
    assert set(REQUEST.matching(pattern)) == expected(pattern), pattern


def test_a_glob_found_inside_a_line_is_no_match_of_that_line() -> None:
    """The whole-text scan (taken when the glob's literal prefix starts most lines) is unanchored: the
    regex engine jumps to the literal prefix. A line that holds the prefix only in its middle (an object
    key that embeds an ARN) is still no match: the glob must match the ARN as a whole."""
    lines = [
        *(f"arn:aws:s3:::team-{i}/*" for i in range(6)),
        "arn:aws:s3:::other/copy-of-arn:aws:s3:::team-9/x",
        "arn:aws:s3:::other/k",
    ]
    request = _RequestLines(lines, list(range(len(lines))))
    pattern = "arn:aws:s3:::team-*/*"
    compiled = ResourcePattern(pattern, variables=False)
    ctx = Context.exact()
    assert (
        set(request.matching(pattern))
        == {i for i, line in enumerate(lines) if compiled.match(line, ctx) is Tri.YES}
        == set(range(6))
    )
