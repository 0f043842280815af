"""Same protocol as benchmarks/ta_assist.py (its simulate/figures/bootstrap/_better, imported),
with only the similarity (grouping, and nearest-graded for method 'similarity') and optionally the
criterion features swapped. Tuned on the tuning half of part7_labelled.jsonl only."""

import importlib.util
import itertools
import sys
import time
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix, hstack

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))
spec = importlib.util.spec_from_file_location("bench", ROOT / "benchmarks" / "ta_assist.py")
B = importlib.util.module_from_spec(spec)
spec.loader.exec_module(B)
from embed import Cache  # noqa: E402

from course import ta_assist as T  # noqa: E402

KIND = sys.argv[1] if len(sys.argv) > 1 else "int8"
cache = Cache(KIND)
orig_sim, orig_feat = T.similarities, T.criterion_features
STATE = {"sim": "tfidf", "w": 0.5, "feat": False}


def sim(texts):
    if not texts:
        return np.zeros((0, 0))
    if STATE["sim"] == "tfidf":
        return orig_sim(texts)
    e = cache.get(list(texts))
    es = np.clip(e @ e.T, 0, 1)
    if STATE["sim"] == "emb":
        return es
    w = STATE["w"]  # concatenation [tfidf blocks * sqrt(w), emb * sqrt(1-w)]
    return np.clip(w * orig_sim(texts) + (1 - w) * es, 0, 1)


def feat(texts, criterion):
    x = orig_feat(texts, criterion)
    if not STATE["feat"]:
        return x
    parts = [" ".join(T.about(t, criterion)) for t in texts]
    e = cache.get(parts)
    e[[not p.strip() for p in parts]] = 0
    return hstack([x, csr_matrix(e * np.sqrt(0.5))]).tocsr()


T.similarities = B.similarities = sim
T.criterion_features = feat

tuning, held = B.split(B.load())
blind = B.load(B.BLIND)
t0 = time.perf_counter()
for rows in (tuning, held, blind):
    texts = [r["text"] for r in rows]
    cache.get(texts)
    for c in T.CRITERIA:
        cache.get([" ".join(T.about(t, c)) for t in texts])
cache.save()
print(
    f"[{KIND}] embeddings (whole answers + criterion parts, uncached ones): "
    f"{time.perf_counter() - t0:.1f} s",
    flush=True,
)


def line(name, rows, cfg):
    out = B.simulate(rows, cfg)
    f, ci = B.figures(out), B.bootstrap(out)
    groups = len(B.groups_of(rows, cfg))
    s = (
        f"{name}: groups {groups}, proposed {f['proposed']}/{len(out)} wrong {f['wrong']}; "
        f"coverage {f['coverage']:.3f} [{ci['coverage'][0]:.2f},{ci['coverage'][1]:.2f}] "
        f"agreement {f['agreement']:.3f} [{ci['agreement'][0]:.2f},{ci['agreement'][1]:.2f}] "
        f"kappa {f['kappa']:.3f} [{ci['kappa'][0]:.3f},{ci['kappa'][1]:.3f}]"
    )
    met = f["coverage"] >= 0.5 and f["agreement"] >= 0.9
    print(s + (" TARGET MET" if met else ""), flush=True)


def tune_criteria(thresholds):
    best, key_best = None, None
    for th, conf in itertools.product(thresholds, (0.5, 0.6, 0.7, 0.8, 0.9)):
        cfg = T.TAAssist(method="criteria", budget=0.0, distance_threshold=th, min_confidence=conf)
        f = B.figures(B.simulate(tuning, cfg))
        key = B._better(f, (conf,), B.SAFE_AGREEMENT)
        if key_best is None or key > key_best:
            best, key_best = cfg, key
    return best


def tune_similarity(thresholds, min_sims):
    best, key_best = None, None
    for th, ms, mg, ag in itertools.product(
        thresholds, min_sims, (0.0, 0.05, 0.1, 0.15), (True, False)
    ):
        cfg = T.TAAssist(
            method="similarity",
            budget=0.0,
            distance_threshold=th,
            min_similarity=ms,
            margin=mg,
            criteria_must_agree=ag,
        )
        f = B.figures(B.simulate(tuning, cfg))
        key = B._better(f, (mg, ms, ag))
        if key_best is None or key > key_best:
            best, key_best = cfg, key
    return best


def run(label, thresholds, min_sims, do_sim=True):
    t = time.perf_counter()
    cfg = tune_criteria(thresholds)
    print(
        f"\n== {label} | criteria tuned: {B.describe(cfg)} ({time.perf_counter() - t:.0f} s)",
        flush=True,
    )
    for n, rows in (("tuning", tuning), ("held", held), ("BLIND", blind)):
        line(f"  criteria {n}", rows, cfg)
    budget = T.TAAssist(
        method="criteria", budget=0.3, budget_clustering="agglomerative", min_confidence=0.5
    )
    line("  budget-variant (as benchmark) BLIND", blind, budget)
    if do_sim:
        cfg = tune_similarity(thresholds, min_sims)
        print(f"   similarity tuned: {B.describe(cfg)}", flush=True)
        for n, rows in (("tuning", tuning), ("held", held), ("BLIND", blind)):
            line(f"  similarity {n}", rows, cfg)


which = sys.argv[2:] or ["base", "emb", "mix", "embfeat", "mixfeat"]
if "base" in which:
    STATE.update(sim="tfidf", feat=False)
    print("\n== TF-IDF defaults, same run (benchmark's c.TAAssist())")
    for n, rows in (("held", held), ("BLIND", blind)):
        line(f"  criteria default {n}", rows, T.TAAssist())
    line("  budget-variant BLIND", blind, B.BUDGET_VARIANT)
if "emb" in which:
    STATE.update(sim="emb", feat=False)
    run("similarity = MiniLM cosine", (0.1, 0.15, 0.2, 0.3, 0.4), (0.7, 0.8, 0.85, 0.9, 0.95))
if "mix" in which:
    STATE.update(sim="mix", feat=False, w=0.5)
    run(
        "similarity = 0.5 TF-IDF + 0.5 MiniLM (concatenated blocks)",
        (0.3, 0.4, 0.5, 0.6),
        (0.5, 0.6, 0.7, 0.75, 0.8, 0.85),
    )
if "embfeat" in which:
    STATE.update(sim="emb", feat=True)
    run(
        "similarity = MiniLM; criteria features + MiniLM of criterion sentences",
        (0.1, 0.15, 0.2, 0.3, 0.4),
        (),
        do_sim=False,
    )
if "tfidffeat" in which:
    STATE.update(sim="tfidf", feat=True)
    run(
        "similarity = TF-IDF; criteria features + MiniLM of criterion sentences",
        (0.5, 0.6, 0.7),
        (),
        do_sim=False,
    )
cache.save()
