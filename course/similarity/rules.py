"""The numbers that decide what counts as evidence, and the notebook's names they read
(docs/similarity.md explains each)."""

from __future__ import annotations

import re

K_TOKENS = 8  # tokens per code fingerprint: about half a line of the lab's model
MIN_RUN = 30  # rare shared fingerprints a block needs: more than one line of the model ...
MAX_GAP = 6  # ... with at most this many others between two of them (less than a line)
SHINGLE_WORDS = 3
RARE_SHARE = 0.2  # a fingerprint or shingle in more than this share of the class: no evidence
COMMON_ANSWER = 0.5  # an answer more than half of those who answered wrote: no evidence
# An answer held by more than this many students weighs nothing, whatever the class size.
# Three is a source and two copiers: a ring of three still shows through its answers. A
# fourth holder makes the value a shared mistake, not a copy between two of them: a number
# of the lab's own model typed into Part 4 (a reviewed class had 14 `receptive_field = 23`),
# a common misconception of a multiple-choice item. A share of the class (10 %) would let 30
# students of 300 "share" a value, which is what independent work produces; a bigger ring
# still shows through its code, written answer, outputs or id. Below the cut the weight is
# 2/k: the rarer, the heavier.
ANSWER_MAX_HOLDERS = 3
REPORT_MIN = 1.5  # a pair below this many points is not listed
TOP_PAIRS = 50  # pairs shown side by side in the HTML report

CODE_POINTS_PER = 0.1  # per (weighted) rare fingerprint ...
CODE_POINTS_MAX = 5.0  # ... up to this
WRITTEN_POINTS = 6.0  # times the weighted Jaccard of the written answers
WRITTEN_MIN_SHARED = 3  # fewer shared rare shingles than this is a coincidence
UNKNOWN_ANSWER = 0.5  # an identical answer whose correctness is unknown counts half
ID_POINTS = 6.0
OUTPUT_POINTS = 2.0  # per identical saved output with a timing
OUTPUT_POINTS_MAX = 6.0

WRITTEN_ANSWER_ID = "explain_accuracy_gain_answer"  # the cell id of the Part 7 answer
WRITTEN_TASK = "explain_accuracy_gain"  # its task cell (the answer follows it)
TIMING = re.compile(r"\d(?:ms|us|µs|s)(?:/step)?\b|\d\s+(?:ms|s|seconds?)\b")
