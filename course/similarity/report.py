"""The similarity report: HTML for the TA, markdown for the summary, and the command."""

from __future__ import annotations

import argparse
import functools
from collections.abc import Iterable
from pathlib import Path

import jinja2

from course import templates
from course.layout import COURSE_ROOT, Layout
from course.similarity.pairs import (
    Cluster,
    Pair,
    Result,
    analyse,
    in_long_runs,
)
from course.similarity.reading import Submission, word_matches
from course.similarity.rules import (
    ANSWER_MAX_HOLDERS,
    COMMON_ANSWER,
    K_TOKENS,
    RARE_SHARE,
    REPORT_MIN,
    SHINGLE_WORDS,
    TOP_PAIRS,
)
from graders import ASSIGNMENT

# ------------------------------------------------------------------ the HTML report


def _merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def segments(text: str, spans: Iterable[tuple[int, int]]) -> list[tuple[str, bool]]:
    """`text` cut into (piece, shared) at the merged `spans`."""
    out, at = [], 0
    for start, end in _merge(spans):
        if start > at:
            out.append((text[at:start], False))
        out.append((text[max(start, at) : end], True))
        at = max(at, end)
    if at < len(text):
        out.append((text[at:], False))
    return out


def _written_spans(sub: Submission, keep: set) -> list[tuple[int, int]]:
    words = word_matches(sub.written)
    spans = []
    for sh, starts in sub.written_shingles.items():
        if sh in keep:
            for i in starts:
                spans.append((words[i].start(), words[i + SHINGLE_WORDS - 1].end()))
    return spans


def pair_view(result: Result, p: Pair) -> dict:
    """What the page shows for one pair: code cells and written answers side by side."""
    a, b = result.submissions[p.a], result.submissions[p.b]
    shared = set(a.fingerprints) & set(b.fingerprints) & result.rare_code
    shared = in_long_runs(a, shared) & in_long_runs(b, shared)
    cells = []
    for gid in sorted({g for h in shared for g, _ in a.fingerprints[h]}):
        sides = []
        for sub in (a, b):
            toks = sub.tokens.get(gid, [])
            spans = [
                (toks[i].start, toks[i + K_TOKENS - 1].end)
                for h in shared
                for g, i in sub.fingerprints.get(h, ())
                if g == gid
            ]
            sides.append(segments(sub.sources.get(gid, ""), spans))
        cells.append({"grade_id": gid, "sides": sides})
    written = None
    if p.written_points >= 0.05:
        keep = set(a.written_shingles) & set(b.written_shingles) & result.rare_shingles
        written = [segments(s.written, _written_spans(s, keep)) for s in (a, b)]
    return {
        "a": p.a,
        "b": p.b,
        "score": p.score,
        "likely_source": p.likely_source,
        "reasons": p.reasons(answer_values=False),  # the values: once, in the answers table
        "points": [
            ("student id", p.id_points),
            ("code", p.code_points),
            ("answers", p.answer_points),
            ("written answer", p.written_points),
            ("saved outputs", p.output_points),
        ],
        "answers": p.answers,
        "cells": cells,
        "written": written,
    }


@functools.cache
def _html_template() -> jinja2.Template:
    return templates.load("similarity.html.j2", pts=lambda x: f"{x:.1f}")


def shown_clusters(result: Result, top: int) -> list[Cluster]:
    """The first clusters, whole, until they hold `top` pairs (a group is never cut)."""
    out, count = [], 0
    for cluster in result.clusters:
        if count >= top:
            break
        out.append(cluster)
        count += len(cluster.pairs)
    return out


def render_html(result: Result, top: int = TOP_PAIRS) -> str:
    groups, number = [], 0
    for cluster in shown_clusters(result, top):
        views = []
        for p in cluster.pairs:
            number += 1
            views.append({**pair_view(result, p), "number": number})
        groups.append(
            {
                "number": cluster.number,
                "members": cluster.members,
                "likely_source": cluster.likely_source,
                "basis": cluster.basis,
                "score": cluster.score,
                "pairs": views,
            }
        )
    return _html_template().render(
        assignment=result.assignment,
        n=len(result.students),
        cut=result.rare_cut,
        graded=result.graded,
        minimum=REPORT_MIN,
        listed=len(result.pairs),
        shown=number,
        clusters=groups,
        n_clusters=len(result.clusters),
        skipped=result.skipped,
        notes=result.notes,
        rare_share=RARE_SHARE,
        common_answer=COMMON_ANSWER,
        answer_max=ANSWER_MAX_HOLDERS,
        k=K_TOKENS,
        shingle_words=SHINGLE_WORDS,
    )


def report_path(course: Path, assignment: str = ASSIGNMENT) -> Path:
    return Layout(Path(course), assignment).reports / f"{assignment}_similarity.html"


def write_report(course: Path, result: Result) -> Path:
    path = report_path(course, result.assignment)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(result))
    return path


def summary_rows(result: Result, top: int = 20) -> list[dict]:
    """The ranked pairs for the TA summary's "Possible copying" section: rank, a, b, score,
    reasons (each pair's evidence, once), and the number of its cluster (summary_clusters)."""
    group = {(p.a, p.b): c.number for c in result.clusters for p in c.pairs}
    return [
        {
            "rank": i,
            "a": p.a,
            "b": p.b,
            "score": round(p.score, 1),
            "reasons": p.reasons(),
            "cluster": group.get((p.a, p.b), 0),
            "likely_source": p.likely_source,
        }
        for i, p in enumerate(result.pairs[:top], 1)
    ]


def summary_clusters(result: Result, top: int = 20) -> list[dict]:
    """The clusters for a Markdown page, strongest first, whole, until they hold `top` pairs:
    number, members, likely_source (or ""), basis, score and their pairs (as summary_rows, in
    the cluster's rank order)."""
    rows = {(r["a"], r["b"]): r for r in summary_rows(result, top=len(result.pairs))}
    return [
        {
            "number": c.number,
            "members": c.members,
            "likely_source": c.likely_source,
            "basis": c.basis,
            "score": round(c.score, 1),
            "pairs": [rows[p.a, p.b] for p in c.pairs],
        }
        for c in shown_clusters(result, top)
    ]


@functools.cache
def _markdown_template() -> jinja2.Template:
    return templates.load("similarity.md.j2")


def render_markdown(result: Result, top: int = 20) -> str:
    """The listed pairs as a Markdown list, one item per cluster (a pair alone is one line;
    a group lists its members, its likely source and its pairs), each pair's evidence once."""
    shown = summary_clusters(result, top)
    return _markdown_template().render(
        clusters=shown,
        more=len(result.pairs) - sum(len(c["pairs"]) for c in shown),
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course.similarity", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--course", type=Path, default=COURSE_ROOT)
    parser.add_argument("--assignment", default=ASSIGNMENT)
    args = parser.parse_args(argv)
    result = analyse(args.course, args.assignment)
    path = write_report(args.course, result)
    print(render_markdown(result), end="")
    print(f"similarity report written to {path}")
    return 0
