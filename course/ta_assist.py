"""The TA assistant's method for Part 7's free-text answer: group the class's answers, pick a
representative per group, and propose a score for every other answer from the answers a TA has
graded -- or abstain. Pure functions of the texts, the TA's grades and the similarity report's
flags: no gradebook, no files (course/ta_assist_class.py reads and writes those).

Grouping (offline, scikit-learn, seconds on 2 cores for a class of hundreds): TF-IDF on words
(1-2 grams) and on character 3-5 grams, each block L2-normalised and weighted equally; cosine
similarity; agglomerative clustering with average linkage, cut at ``distance_threshold``.
The representative of a group is its medoid (the member most similar to the others).

Proposals, ``method = "criteria"`` (the default): the TA grades the representatives *by
criterion* (the mark scheme's five, 0/1/2 each). Per criterion, the answer's sentences about
that criterion (topic words of the mark scheme) are turned into TF-IDF features plus the
criterion's keyword rules, and a logistic regression trained only on the answers the TA graded
by criterion gives each level a probability. The proposal is the sum of the five levels, given
only when every criterion's most probable level reaches ``min_confidence``, and only once every
group's representative is graded by criterion; an answer with the "fewer parameters" trap is
left to the TA (whether it is the main argument is a judgement).

Proposals, ``method = "similarity"`` (the first method, kept for comparison): the score of the
nearest TA-graded answer, given only when

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
from traitlets import Bool, Enum, Float, Integer
from traitlets.config import Configurable

MARKER = "[ta-assist]"  # starts the gradebook comment of every accepted proposal
UNANSWERED = "YOUR ANSWER HERE"


class TAAssist(Configurable):
    """``c.TAAssist.*``: how the Part 7 assistant groups answers and when it abstains."""

    method = Enum(
        ["criteria", "similarity"],
        default_value="criteria",
        help="'criteria': a level per mark-scheme criterion from the TA's per-criterion grades "
        "(a classifier per criterion), summed; 'similarity': the score of the nearest graded "
        "answer (docs/ta_assist.md).",
    ).tag(config=True)
    min_confidence = Float(
        0.7,
        help="Method 'criteria': abstain unless, for every criterion, the classifier gives its "
        "level at least this probability.",
    ).tag(config=True)

    distance_threshold = Float(
        0.5,
        help="Cosine distance at which agglomerative clustering (average linkage) stops "
        "merging groups of answers (used when budget is 0).",
    ).tag(config=True)
    budget = Float(
        0.0,
        help="0: groups by distance_threshold (the default). Above 0: a fixed TA budget -- the "
        "answers are split into this share of the (proposable) class, rounded up, by "
        "budget_clustering, and the TA grades each group's representative (docs/ta_assist.md).",
    ).tag(config=True)
    budget_clustering = Enum(
        ["kmeans", "agglomerative"],
        default_value="agglomerative",
        help="With a budget: k-means on the TF-IDF vectors, or agglomerative clustering "
        "(average linkage), into the budget's number of groups.",
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
CRITERIA = tuple(CRITERIA_RULES)  # the mark scheme's order

# criterion -> which sentences of an answer are about it: the topic words of the mark scheme's
# criterion (what it is about, not what earns credit); a sentence can be about several
TOPIC = {
    "information": r"informat|detail|784|21[,.]?632|676|\b800\b|pixel|\blos[te]|\bloses\b|throw|"
    r"discard|compress|\b25 numbers|more values|re-?express|computed from|functions? of|noise",
    "weight_sharing": r"shar|\b320\b|17 ?million|16[,.]?981|~17|reuse|same (?:small )?(?:filter|"
    r"detector|weights)|slid|every (?:position|location|spot)|everywhere|weights?\b|parameters|"
    r"local|patch",
    "evidence": r"\b0[.,]8[5-9]\d?\b|\b8[5-9][.,]\d+ ?%|coats?\b|pullovers?|shirts?\b|per-class|"
    r"class\b|accura",
    "controls": r"dense2|dense_wide|no[_ -]?pooling|without pooling|depth|deeper|comput|multiply|"
    r"21 ?(?:times|x)|control|6e|pooling",
    "shifts": r"shift|cent(?:red|ered)|invarian|steadier|wherever|moved|toleran|robust",
}
# the test accuracies of criterion 3 are the sentences with numbers that are not the controls'
# or the shift probe's
NOT_EVIDENCE = re.compile(
    r"dense2|dense_wide|no[_ -]?pooling|without pooling|shift|\b\d ?px|multiply", re.IGNORECASE
)
ACCURACY = re.compile(r"\b0[.,]8[5-9]\d?\b|\b8[5-9][.,]\d+ ?%")
CLASS_NAME = re.compile(r"\b(?:coats?|pullovers?|shirts?)\b", re.IGNORECASE)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
C_REGULARISATION = 100.0  # logistic regression's C, chosen on the tuning half with the knobs
MIN_CRITERIA_GRADED = 8  # answers the TA graded by criterion before anything is proposed


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


def sentences(text: str) -> list[str]:
    return [s for s in SENTENCE_END.split(text.strip()) if s]


def about(text: str, criterion: str) -> list[str]:
    """The sentences of `text` about `criterion` (by its topic words)."""
    topic = re.compile(TOPIC[criterion], re.IGNORECASE)
    found = [s for s in sentences(text) if topic.search(s)]
    if criterion == "evidence":
        found = [s for s in found if not NOT_EVIDENCE.search(s)]
    return found


def rule_features(part: str, criterion: str) -> list[float]:
    """The criterion's keyword rules on its sentences (1 matched, 0 not); for the evidence, also
    whether two test accuracies and a class are named (the mark scheme's criterion 3)."""
    lowered = part.lower()
    out = [float(bool(re.search(rule, lowered))) for rule in CRITERIA_RULES[criterion]]
    if criterion == "evidence":
        out += [min(len(ACCURACY.findall(part)), 2) / 2, float(bool(CLASS_NAME.search(part)))]
    return out


def criterion_features(texts: list[str], criterion: str):
    """Per answer: TF-IDF (words 1-2, characters 3-5) of its sentences about `criterion`, and
    the criterion's keyword rules; fitted on the class's answers (no labels)."""
    from scipy.sparse import csr_matrix, hstack
    from sklearn.feature_extraction.text import TfidfVectorizer

    parts = [" ".join(about(t, criterion)) for t in texts]
    blocks = [csr_matrix(np.array([rule_features(p, criterion) for p in parts]))]
    for vectorizer in (
        TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True),
    ):
        if any(p.strip() for p in parts):
            blocks.append(vectorizer.fit_transform(parts) * np.sqrt(0.5))
    return hstack(blocks).tocsr()


def criterion_levels(
    texts: list[str], graded: Mapping[int, Mapping[str, int]]
) -> dict[str, np.ndarray | None]:
    """criterion -> per answer, the probability of each level (0, 1, 2: rows x 3), from a
    logistic regression trained on `graded` (index -> the TA's level per criterion) only; None
    when the TA's grades show fewer than two levels of it."""
    from sklearn.linear_model import LogisticRegression

    out: dict[str, np.ndarray | None] = {}
    rows = sorted(graded)
    for criterion in CRITERIA:
        y = np.array([int(graded[i][criterion]) for i in rows])
        if len(set(y.tolist())) < 2:
            out[criterion] = None
            continue
        x = criterion_features(texts, criterion)
        model = LogisticRegression(C=C_REGULARISATION, max_iter=5000).fit(x[rows], y)
        proba = np.zeros((len(texts), 3))
        proba[:, model.classes_] = model.predict_proba(x)
        out[criterion] = proba
    return out


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


def vectors(texts: list[str]):
    """TF-IDF on words (1-2 grams) and characters (3-5), each block L2-normalised and weighted
    equally: one unit-length sparse row per answer."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer

    blocks = [
        TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=1),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=1),
    ]
    return hstack([b.fit_transform(texts) * np.sqrt(0.5) for b in blocks]).tocsr()


def similarities(texts: list[str]) -> np.ndarray:
    """Cosine similarity of every pair of answers (TF-IDF on words and characters)."""
    if not texts:
        return np.zeros((0, 0))
    x = vectors(texts)
    sim = (x @ x.T).toarray()
    return np.clip(sim, 0.0, 1.0)


def budget_size(n: int, budget: float) -> int:
    """How many representatives a budget (share of `n` answers) buys: rounded up, at least
    MIN_CRITERIA_GRADED (nothing is proposed with fewer), at most n."""
    return min(n, max(MIN_CRITERIA_GRADED, int(np.ceil(budget * n - 1e-9))))


def group(texts: list[str], sim: np.ndarray, cfg: TAAssist) -> list[list[int]]:
    """The groups of `texts` (indices, medoid first, largest first): by `distance_threshold`,
    or with a budget into ``budget_size`` groups, so the TA grades that many representatives."""
    if cfg.budget <= 0:
        return cluster(sim, cfg.distance_threshold)
    n_groups = budget_size(len(texts), cfg.budget)
    if n_groups in (0, len(texts)):
        return _ordered([[i] for i in range(len(texts))], sim)
    if cfg.budget_clustering == "kmeans":
        from sklearn.cluster import KMeans

        labels = KMeans(n_clusters=n_groups, n_init=10, random_state=0).fit_predict(vectors(texts))
    else:
        from sklearn.cluster import AgglomerativeClustering

        labels = AgglomerativeClustering(
            n_clusters=n_groups, metric="precomputed", linkage="average"
        ).fit_predict(1.0 - sim)
    return _ordered([np.flatnonzero(labels == k).tolist() for k in sorted(set(labels))], sim)


def _ordered(groups: list[list[int]], sim: np.ndarray) -> list[list[int]]:
    """Each group with its medoid first (the member most similar to the others), largest
    group first (ties: by first member)."""
    out = []
    for members in groups:
        members = [int(i) for i in members]
        medoid = max(members, key=lambda i: (sim[i, members].sum(), -i))
        out.append([medoid, *[m for m in members if m != medoid]])
    return sorted(out, key=lambda g: (-len(g), min(g)))


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
    return _ordered([np.flatnonzero(labels == k).tolist() for k in sorted(set(labels))], sim)


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
    ta_levels: dict[str, int] | None = None  # the TA's level per criterion, when recorded
    levels: dict[str, int] | None = None  # method 'criteria': the proposed level per criterion
    confidence: dict[str, tuple[int, float]] = field(default_factory=dict)  # most probable


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
    ta_levels: Mapping[str, Mapping[str, int]] | None = None,
) -> Plan:
    """Group `answers` (student -> text), and propose a score for every answer the TA has not
    graded (`ta_grades`: student -> score). `flagged`: student -> why the similarity report
    lists them (never proposed). `ta_levels`: student -> the TA's level (0, 1, 2) per criterion,
    for the answers the TA graded by criterion (method 'criteria' learns from these only)."""
    cfg = cfg or TAAssist()
    flagged = flagged or {}
    ta_levels = ta_levels or {}
    items = {s: Item(s, t, criteria=criteria_matched(t)) for s, t in sorted(answers.items())}
    for s, item in items.items():
        item.ta_score = ta_grades.get(s)
        if item.ta_score is not None and s in ta_levels:
            item.ta_levels = {c: int(ta_levels[s][c]) for c in CRITERIA}
        item.excluded = never_proposed(item.text, cfg)
        if item.excluded is None and s in flagged:
            item.excluded = f"flagged by the similarity report ({flagged[s]})"
    pool = [s for s, i in items.items() if i.excluded is None]
    texts = [items[s].text for s in pool]
    sim = similarities(texts)
    groups = [[pool[i] for i in g] for g in group(texts, sim, cfg)]
    for number, members in enumerate(groups, 1):
        for s in members:
            items[s].group = number
        items[members[0]].representative = True
    graded = [i for i, s in enumerate(pool) if items[s].ta_score is not None]
    if cfg.method == "criteria":
        _propose_by_criteria(items, pool, sim, graded, cfg)
    else:
        for i, s in enumerate(pool):
            item = items[s]
            if item.ta_score is not None:
                continue
            _propose(item, sim[i], graded, pool, items, cfg)
    for item in items.values():
        if item.excluded is not None and item.ta_score is None:
            item.abstained = item.excluded
    return Plan(items, groups)


def _neighbours(row, graded: list[int], pool: list[str], items) -> list[Neighbour]:
    ranked = sorted(graded, key=lambda j: (-row[j], pool[j]))
    return [Neighbour(pool[j], float(row[j]), float(items[pool[j]].ta_score)) for j in ranked[:3]]


def _propose_by_criteria(items, pool: list[str], sim, graded: list[int], cfg: TAAssist) -> None:
    """Method 'criteria': a level per criterion from the TA's per-criterion grades, or abstain.
    Nothing is proposed before the TA has graded every group's representative by criterion (the
    classifiers learn from them; with part of them, the tuning half's proposals were often
    wrong) and at least MIN_CRITERIA_GRADED answers."""
    by_criterion = {i: items[pool[i]].ta_levels for i in graded if items[pool[i]].ta_levels}
    todo = [i for i, s in enumerate(pool) if items[s].ta_score is None]
    missing = [s for s in pool if items[s].representative and items[s].ta_levels is None]
    for i in todo:
        items[pool[i]].neighbours = _neighbours(sim[i], graded, pool, items)
    waiting = None
    if missing:
        waiting = (
            f"{len(missing)} representatives are not graded by criterion yet "
            f"({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''})"
        )
    elif len(by_criterion) < MIN_CRITERIA_GRADED:
        waiting = (
            f"the TA has graded {len(by_criterion)} answers by criterion "
            f"(under {MIN_CRITERIA_GRADED})"
        )
    proba = None if waiting else criterion_levels([items[s].text for s in pool], by_criterion)
    for i in todo:
        item = items[pool[i]]
        if TRAP.search(item.text):
            item.abstained = (
                'it says "fewer parameters" (the trap): whether that is its main argument is '
                "the TA's call"
            )
            continue
        if proba is None:
            item.abstained = waiting
            continue
        unsure = []
        for c in CRITERIA:
            if proba[c] is None:
                unsure.append(f"{c}: the TA's grades show one level only")
                continue
            level = int(np.argmax(proba[c][i]))
            item.confidence[c] = (level, float(proba[c][i, level]))
            if proba[c][i, level] < cfg.min_confidence:
                unsure.append(f"{c}: {level} at {proba[c][i, level]:.2f}")
        if unsure:
            item.abstained = (
                f"unsure of a criterion ({'; '.join(unsure)}; under {cfg.min_confidence:.2f})"
            )
        else:
            item.levels = {c: level for c, (level, _) in item.confidence.items()}
            item.proposal = float(sum(item.levels.values()))


def _propose(item: Item, row, graded: list[int], pool: list[str], items, cfg: TAAssist) -> None:
    if not graded:
        item.abstained = "no answer similar to it is graded yet"
        return
    ranked = sorted(graded, key=lambda j: (-row[j], pool[j]))
    item.neighbours = _neighbours(row, graded, pool, items)
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
