"""Lead score = fit + intent + engagement, 0–100, graded A–D by the playbook's bands.

The three parts are kept apart with the answers that earned them, so a rep can
see why a lead scored as it did (the seeds' "score lead (fit + intent + engagement)").
"""

from __future__ import annotations

from typing import Any, TypedDict

from graph.playbook import Playbook, Points, Question


class ScoreItem(TypedDict):
    """One answer's contribution to a part of the score."""

    question: str
    """The question id (``*`` for engagement, which no single answer earns)."""
    answer: Any
    """The recorded answer, as parsed (for engagement, a note such as ``"1 re-asks"``)."""
    points: int


class Score(TypedDict):
    """A scored lead, JSON-ready: totals, grade and the items behind each part."""

    total: int
    grade: str
    fit: int
    intent: int
    engagement: int
    estimated_value_usd: float | None
    items: dict[str, list[ScoreItem]]


def points_for(question: Question, answer: Any) -> Points | None:
    """The points a recorded answer earns (choice or yes/no); None for other types or unknown answers."""
    if question.type == "choice":
        return next((c for c in question.choices if c.value == answer), None)
    if question.type == "yes_no" and isinstance(answer, bool):
        return question.yes if answer else question.no
    return None


def engagement(playbook: Playbook, answers: dict[str, Any], reasks: int) -> int:
    """Engagement points: the share of questions answered, less a tenth of the maximum per re-ask."""
    top = playbook.scoring.engagement_max
    answered = sum(1 for q in playbook.questions if answers.get(q.id) is not None)
    earned = top * answered / len(playbook.questions) - top * 0.1 * reasks
    return max(0, min(top, round(earned)))


def grade(playbook: Playbook, total: int) -> str:
    """Letter grade: A, B, C at or over the playbook's bands, else D."""
    bands = playbook.scoring.grades
    for letter in ("A", "B", "C"):
        if total >= getattr(bands, letter):
            return letter
    return "D"


def score_lead(playbook: Playbook, answers: dict[str, Any], reasks: int = 0) -> Score:
    """Score a lead from its answers (question id → parsed value, None when unknown).

    ``reasks`` is how many times the bot had to re-ask; it lowers engagement.
    The total is clamped to 0–100; ``estimated_value_usd`` is the largest value any
    answer carries (None when none does).
    """
    items: dict[str, list[ScoreItem]] = {"fit": [], "intent": [], "engagement": []}
    values = []
    for question in playbook.questions:
        answer = answers.get(question.id)
        pts = points_for(question, answer)
        if pts is None:
            continue
        for part in ("fit", "intent"):
            if getattr(pts, part):
                items[part].append({"question": question.id, "answer": answer, "points": getattr(pts, part)})
        if pts.estimated_value_usd is not None:
            values.append(pts.estimated_value_usd)
    engaged = engagement(playbook, answers, reasks)
    items["engagement"].append({"question": "*", "answer": f"{reasks} re-asks", "points": engaged})
    fit = sum(i["points"] for i in items["fit"])
    intent = sum(i["points"] for i in items["intent"])
    total = max(0, min(100, fit + intent + engaged))
    return {
        "total": total,
        "grade": grade(playbook, total),
        "fit": fit,
        "intent": intent,
        "engagement": engaged,
        "estimated_value_usd": max(values) if values else None,
        "items": items,
    }
