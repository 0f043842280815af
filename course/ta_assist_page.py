"""The TA's page of the Part 7 assistant (reports/<assignment>_ta_assist.html): the groups in
order, each with its representative to grade first, its members, every proposal with its
evidence and the command that accepts it; then the answers left to the TA and why."""

from __future__ import annotations

import functools

import jinja2

from course import templates
from course.ta_assist import CRITERIA_RULES, Plan, TAAssist

COMMAND = "python -m course ta-assist accept"


def status(item, recorded) -> str:
    r = recorded.get(item.student)
    if r is not None and r.score is not None:
        return "accepted proposal" if r.by_assistant else "graded by the TA"
    if item.proposal is not None:
        return "proposal"
    return "grade it yourself"


def view(item, recorded) -> dict:
    r = recorded.get(item.student)
    return {
        "student": item.student,
        "text": item.text.strip() or "(no answer)",
        "status": status(item, recorded),
        "score": None if r is None else r.score,
        "proposal": item.proposal,
        "follows": item.follows,
        "why_not": item.abstained or item.excluded,
        "neighbours": item.neighbours,
        "criteria": [(c, found) for c, found in item.criteria.items() if found],
        "representative": item.representative,
        "ta_levels": item.ta_levels,
        "levels": [(c, level, confidence) for c, (level, confidence) in item.confidence.items()],
        "by_criteria": item.levels is not None,
    }


def render(assignment: str, plan: Plan, recorded: dict, cfg: TAAssist) -> str:
    groups = [
        {"number": n, "members": [view(plan.items[s], recorded) for s in members]}
        for n, members in enumerate(plan.groups, 1)
    ]
    left = [
        view(i, recorded)
        for i in plan.items.values()
        if i.group is None  # never grouped: short, other language, off topic, flagged
    ]
    return _template().render(
        assignment=assignment,
        n=len(plan.items),
        groups=groups,
        left=left,
        proposals=len(plan.proposals()),
        cfg=cfg,
        command=COMMAND,
        criteria=list(CRITERIA_RULES),
        by_criterion=sum(i.ta_levels is not None for i in plan.items.values()),
    )


@functools.cache
def _template() -> jinja2.Template:
    return templates.load("ta_assist.html.j2", g=lambda x: "" if x is None else f"{x:g}")
