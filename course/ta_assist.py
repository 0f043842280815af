"""The TA assistant's method for Part 7's free-text answer: group the class's answers, pick a
representative per group, and propose a score for every other answer from the nearest answers a
TA has graded -- or abstain. Pure functions of the texts, the TA's grades and the similarity
report's flags: no gradebook, no files (course/ta_assist_class.py reads and writes those).

Method (offline, scikit-learn, seconds on 2 cores for a class of hundreds): TF-IDF on words
(1-2 grams) and on character 3-5 grams, each block L2-normalised and weighted equally; cosine
similarity; agglomerative clustering with average linkage, cut at ``distance_threshold``.
The representative of a group is its medoid (the member most similar to the others).

A proposal for an answer is the score of its nearest TA-graded answer, given only when

* that answer is at least ``min_similarity`` similar,
* the nearest graded answer with *another* score is at least ``margin`` less similar, and
* (``criteria_must_agree``) the mark scheme's criteria found by keyword rules are the same.

Never proposed (the TA grades these themselves): an answer under ``min_words`` words, one in
another language (fewer than ``min_english_share`` of its words are English stop words), one
off topic (fewer than ``min_course_words`` distinct course words), and a student the
similarity report flags. The values are c.TAAssist.* traitlets, chosen on the tuning half of
tests/fixtures/part7_labelled.jsonl (benchmarks/ta_assist.py --tune; docs/ta_assist.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from traitlets import Bool, Float, Integer
from traitlets.config import Configurable

MARKER = "[ta-assist]"  # starts the gradebook comment of every accepted proposal
UNANSWERED = "YOUR ANSWER HERE"


class TAAssist(Configurable):
    """``c.TAAssist.*``: how the Part 7 assistant groups answers and when it abstains."""

    distance_threshold = Float(
        0.5,
        help="Cosine distance at which agglomerative clustering (average linkage) stops "
        "merging groups of answers.",
    ).tag(config=True)
    min_similarity = Float(
        0.75,
        help="A proposal needs a TA-graded answer at least this similar (cosine of TF-IDF).",
    ).tag(config=True)
    margin = Float(
        0.15,
        help="Abstain unless the nearest graded answer with another score is at least this much "
        "less similar than the nearest graded answer (docs/ta_assist.md).",
    ).tag(config=True)
    criteria_must_agree = Bool(
        True,
        help="Abstain when the mark-scheme criteria found by keyword rules differ from those of "
        "the graded answer the proposal follows.",
    ).tag(config=True)
    min_words = Integer(20, help="Answers shorter than this are never proposed.").tag(config=True)
    min_english_share = Float(
        0.15,
        help="Share of English stop words under which an answer counts as another language.",
    ).tag(config=True)
    min_course_words = Integer(
        3, help="Distinct course words (conv, pooling, pixel, ...) an on-topic answer has."
    ).tag(config=True)


# ------------------------------------------------------------------ rules

WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
ENGLISH_STOP = frozenset(
    "a an and are as at be because but by can do does each for from has have how i if in is it "
    "its it's not of on or so than that the their them then there these they this to was we what "
    "when where which while why with you your my more less only also same".split()
)
COURSE_WORDS = {  # stems: a word starting with one counts for that stem
    "conv",
    "pool",
    "filter",
    "kernel",
    "paramet",
    "weight",
    "pixel",
    "accura",
    "dense",
    "layer",
    "shift",
    "featur",
    "neuron",
    "network",
    "cnn",
    "model",
    "imag",
    "comput",
    "train",
}

# criterion -> keyword rules (regular expressions); an answer's level per criterion is 0 (no
# rule matched), 1 (one) or 2 (two or more): evidence for the TA, never a score
CRITERIA_RULES: dict[str, list[str]] = {
    "information": [
        r"21[,.]?632",
        r"784",
        r"\b676\b",
        r"not (?:the same as |mean )?(?:less |more )?(?:useful )?information",
        r"(?:lose|lost|loses|add|added|adds)\b[^.]{0,30}\b(?:nothing|no information)"
        r"|nothing (?:is )?(?:lost|new)|no information is",
        r"computed from|functions? of (?:the|those)",
        r"(?:drops?|lose|loses|discards?|throws? away)[^.]{0,40}(?:detail|useful)",
    ],
    "weight_sharing": [
        r"\b320\b",
        r"17 ?(?:million|m\b)|16[,.]?981[,.]?120|~17",
        r"shar(?:e|ed|es|ing)",
        r"reuse|same (?:small )?(?:filter|detector|weights)|slides? over",
        r"every (?:position|location|spot)|all positions",
    ],
    "evidence": [
        r"(?:0\.8[5-9]\d?|8[5-9]\.\d+ ?%)[^.]{0,60}(?:0\.8[5-9]\d?|8[5-9]\.\d+ ?%)",
        r"\b(?:coats?|pullovers?|shirts?)\b",
    ],
    "controls": [
        r"dense2|deeper dense|two hidden layers",
        r"dense_wide|same (?:compute|multiply)",
        r"no[_ -]?pooling|without pooling",
        r"21 ?(?:times|x)",
        r"neither|not (?:pooling|depth|compute)|rules? out",
    ],
    "shifts": [
        r"shift",
        r"pool2[^.]{0,40}(?:less|steadier)|steadier",
        r"cent(?:red|ered)",
        r"(?:whole|the) story|partly|cannot explain|can't be the main",
    ],
}
TRAP = re.compile(r"fewer (?:parameters|weights)|less parameters", re.IGNORECASE)


def words(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text)]


def criteria_matched(text: str) -> dict[str, list[str]]:
    """criterion -> the phrases of the answer that its keyword rules matched."""
    lowered = text.lower()
    out = {}
    for criterion, rules in CRITERIA_RULES.items():
        found = []
        for rule in rules:
            m = re.search(rule, lowered)
            if m:
                found.append(m.group(0)[:40])
        out[criterion] = found
    return out


def criteria_levels(matched: Mapping[str, list[str]], text: str = "") -> tuple[int, ...]:
    """The keyword profile compared between an answer and the graded one it follows: per
    criterion 0, 1 or 2 rules matched, and whether the trap ("fewer parameters") is there."""
    levels = tuple(min(2, len(found)) for found in matched.values())
    return (*levels, int(bool(TRAP.search(text))))


def never_proposed(text: str, cfg: TAAssist) -> str | None:
    """Why an answer is left to the TA whatever its neighbours are, or None."""
    stripped = text.strip()
    ws = words(stripped)
    if not stripped or stripped == UNANSWERED:
        return "no answer"
    if len(ws) < cfg.min_words:
        return f"very short ({len(ws)} words, under {cfg.min_words})"
    english = sum(w in ENGLISH_STOP for w in ws) / len(ws)
    if english < cfg.min_english_share:
        return (
            f"another language? ({english:.0%} English stop words, "
            f"under {cfg.min_english_share:.0%})"
        )
    course = {stem for stem in COURSE_WORDS for w in ws if w.startswith(stem)}
    if len(course) < cfg.min_course_words:
        return f"off topic? ({len(course)} course words, under {cfg.min_course_words})"
    return None


# ------------------------------------------------------------------ grouping


def similarities(texts: list[str]) -> np.ndarray:
    """Cosine similarity of every pair of answers (TF-IDF on words and characters)."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not texts:
        return np.zeros((0, 0))
    blocks = [
        TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=1),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=1),
    ]
    x = hstack([b.fit_transform(texts) * np.sqrt(0.5) for b in blocks]).tocsr()
    sim = (x @ x.T).toarray()
    return np.clip(sim, 0.0, 1.0)


def cluster(sim: np.ndarray, threshold: float) -> list[list[int]]:
    """Groups of indices, largest first (ties: by first member), each with its medoid first."""
    from sklearn.cluster import AgglomerativeClustering

    n = len(sim)
    if n == 0:
        return []
    if n == 1:
        labels = np.zeros(1, dtype=int)
    else:
        model = AgglomerativeClustering(
            n_clusters=None,
            metric="precomputed",
            linkage="average",
            distance_threshold=threshold,
        )
        labels = model.fit_predict(1.0 - sim)
    groups = []
    for label in sorted(set(labels.tolist())):
        members = [int(i) for i in np.flatnonzero(labels == label)]
        medoid = max(members, key=lambda i: (sim[i, members].sum(), -i))
        groups.append([medoid, *[m for m in members if m != medoid]])
    return sorted(groups, key=lambda g: (-len(g), min(g)))


# ------------------------------------------------------------------ proposals


@dataclass
class Neighbour:
    student: str
    similarity: float
    score: float


@dataclass
class Item:
    student: str
    text: str
    group: int | None = None  # 1-based, in the page's order; None: left out of grouping
    representative: bool = False
    excluded: str | None = None  # why it is never proposed
    ta_score: float | None = None  # graded by the TA
    proposal: float | None = None
    follows: str | None = None  # the TA-graded answer the proposal follows
    abstained: str | None = None  # why no proposal
    neighbours: list[Neighbour] = field(default_factory=list)
    criteria: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Plan:
    items: dict[str, Item]
    groups: list[list[str]]  # students, representative first, largest group first

    def proposals(self) -> list[Item]:
        return [i for i in self.items.values() if i.proposal is not None]


def assist(
    answers: Mapping[str, str],
    ta_grades: Mapping[str, float],
    flagged: Mapping[str, str] | None = None,
    cfg: TAAssist | None = None,
) -> Plan:
    """Group `answers` (student -> text), and propose a score for every answer the TA has not
    graded (`ta_grades`: student -> score). `flagged`: student -> why the similarity report
    lists them (never proposed)."""
    cfg = cfg or TAAssist()
    flagged = flagged or {}
    items = {s: Item(s, t, criteria=criteria_matched(t)) for s, t in sorted(answers.items())}
    for s, item in items.items():
        item.ta_score = ta_grades.get(s)
        item.excluded = never_proposed(item.text, cfg)
        if item.excluded is None and s in flagged:
            item.excluded = f"flagged by the similarity report ({flagged[s]})"
    pool = [s for s, i in items.items() if i.excluded is None]
    sim = similarities([items[s].text for s in pool])
    groups = [[pool[i] for i in g] for g in cluster(sim, cfg.distance_threshold)]
    for number, members in enumerate(groups, 1):
        for s in members:
            items[s].group = number
        items[members[0]].representative = True
    graded = [i for i, s in enumerate(pool) if items[s].ta_score is not None]
    for i, s in enumerate(pool):
        item = items[s]
        if item.ta_score is not None:
            continue
        _propose(item, sim[i], graded, pool, items, cfg)
    for item in items.values():
        if item.excluded is not None and item.ta_score is None:
            item.abstained = item.excluded
    return Plan(items, groups)


def _propose(item: Item, row, graded: list[int], pool: list[str], items, cfg: TAAssist) -> None:
    if not graded:
        item.abstained = "no answer similar to it is graded yet"
        return
    ranked = sorted(graded, key=lambda j: (-row[j], pool[j]))
    item.neighbours = [
        Neighbour(pool[j], float(row[j]), float(items[pool[j]].ta_score)) for j in ranked[:3]
    ]
    nearest = item.neighbours[0]
    other = next((float(row[j]) for j in ranked if items[pool[j]].ta_score != nearest.score), 0.0)
    if nearest.similarity < cfg.min_similarity:
        item.abstained = (
            f"the nearest graded answer is only {nearest.similarity:.2f} similar "
            f"(under {cfg.min_similarity:.2f})"
        )
    elif nearest.similarity - other < cfg.margin:
        item.abstained = (
            f"a graded answer with another score is nearly as close ({other:.2f} against "
            f"{nearest.similarity:.2f}; margin {cfg.margin:.2f})"
        )
    elif cfg.criteria_must_agree and criteria_levels(item.criteria, item.text) != criteria_levels(
        items[nearest.student].criteria, items[nearest.student].text
    ):
        item.abstained = f"the mark scheme's criteria found differ from {nearest.student}'s"
    else:
        item.proposal = nearest.score
        item.follows = nearest.student
