"""A tiny trained run for the evals tests: a real SentencePiece model, real shards with a held-out split, a
real (short) training run of a D=32 decoder, its Orbax checkpoint. Built once per test session."""
from __future__ import annotations

import os

from tests.pipelines.curated_sample import documents, train_tokenizer
from tests.trainer.corpus import make_mixture

SEQ_LEN = 64
STEPS = 12
OVERRIDES = (("model.d_model", "32"), ("model.n_heads", "2"), ("model.n_kv_heads", "1"), ("model.d_ff", "64"),
             ("model.seq_len", str(SEQ_LEN)), ("global_batch", "4"))


def build(root: str) -> dict:
    """root/tokenizer.model, root/data (tokens + mix), root/run (checkpoint); returns their paths."""
    from tokens.tokenizer import Tokenizer
    from trainer.train import RunOptions, train

    docs = documents(per_source=8)
    model_path = os.path.join(root, "tokenizer.model")
    with open(model_path, "wb") as f:
        f.write(train_tokenizer(docs, 640))
    tok = Tokenizer.load(model_path)
    entry = {"sha256": tok.sha256, "vocab_size": tok.vocab_size, "eos_id": tok.eos_id, "pad_id": tok.pad_id,
             "path": model_path}
    ids = {source: [tok.encode(r["text"][:2000]) + [tok.eos_id] for r in rows if r["text"]]
           for source, rows in docs.items() if source in ("code", "text")}
    count = min(len(v) for v in ids.values()) - 3
    mixture = make_mixture(os.path.join(root, "data"), documents=count, seq_len=SEQ_LEN, tokenizer=entry,
                           documents_by_source=ids, total_tokens=4 * SEQ_LEN * STEPS)
    run = os.path.join(root, "run")
    train(RunOptions(mixture=mixture, config="tiny", workdir=run, overrides=OVERRIDES, log_every=10,
                     eval_every=0, async_checkpoints=False), log=lambda *_: None)
    return {"tokenizer": model_path, "mixture": mixture, "run": run, "tokens": os.path.join(root, "data", "tokens")}
