"""The tokenize job: shards match the pure placement spec byte for byte, reruns and crashes converge,
manifests agree with what is on disk, Grain reads the shards the way MaxText does."""
import collections
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import numpy as np
import pytest
from array_record.python.array_record_module import ArrayRecordReader

from pipelines import tokenize
from tokens import paths
from tokens.tokenizer import Tokenizer
from tokens import records
from tokens.source import TokenizedSource
from tokens import shards
from tokens.manifest import load_manifest
from tokens.proto import example_pb2
from tests.pipelines.curated_sample import train_tokenizer, write_curated

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("tokenize")
    docs = write_curated(str(root / "curated"), per_source=12)
    (root / "tok").mkdir()
    (root / "tok" / "tokenizer.model").write_bytes(train_tokenizer(docs, 700))
    return root, docs


def _args(root, out, shards_per_source=3, *extra):
    return ["--input", str(root / "curated"), "--tokenizer", str(root / "tok" / "tokenizer.model"),
            "--output", str(out), "--num-shards", str(shards_per_source), *extra]


@pytest.fixture(scope="module")
def tokenized(corpus):
    root, _ = corpus
    return tokenize.run(_args(root, root / "tokens"))


def _heldout_ids(rows, cfg=tokenize.TokenizeConfig("", "", 0, 0, 0), oversample=1):
    """The held-out rule computed without Beam: id-hash fraction, or among the k smallest keys."""
    keys = {row["id"]: shards.heldout_key(row["id"]) for row in rows}
    wide = cfg.heldout_min_documents * oversample
    threshold = tokenize.heldout_threshold(sorted(keys.values())[:wide], len(rows), wide, 0.1 * oversample)
    return {i for i in keys if tokenize.split_of(i, cfg.heldout_fraction, threshold) == tokenize.HELDOUT}


def _without_overlap(encoded, held, limit=0.01):
    """Held-out candidates whose distinct 32-token windows occur in another document beyond `limit` train."""
    from pipelines.heldout_overlap import window_hashes

    windows = {key: set(window_hashes(ids).tolist()) for key, ids in encoded.items()}
    keep = set()
    for key in held:
        mine = windows[key]
        elsewhere = set().union(*(w for other, w in windows.items() if other != key))
        if not mine or len(mine & elsewhere) / len(mine) <= limit:
            keep.add(key)
    return keep


def _kept_heldout(root, docs):
    """(token ids per (source, id), the (source, id)s that stay held out)."""
    tok = Tokenizer.load(str(root / "tok" / "tokenizer.model"))
    encoded = {(source, row["id"]): np.array(tok.encode(row["text"]) + [tok.eos_id])
               for source, rows in docs.items() for row in rows}
    cfg = tokenize.TokenizeConfig("", "", 0, 0, 0)
    candidates = {(source, i) for source, rows in docs.items() for i in _heldout_ids(rows, oversample=4)}
    survivors = _without_overlap(encoded, candidates)
    assert survivors < candidates                                  # the hard cases every source shares move
    kept = set()
    for source, rows in docs.items():
        k = min(cfg.heldout_min_documents, len(rows) // 10)
        mine = sorted((shards.heldout_key(i), i) for s, i in survivors if s == source)
        kept |= {(source, i) for n, (key, i) in enumerate(mine) if n < k or key < cfg.heldout_fraction * 2 ** 64}
    return encoded, kept


def _expected_shards(root, docs, count, where, files=2):
    """The placement spec computed without Beam: held-out split by id hash minus candidates whose content
    another document holds; each split's documents in input order (kept files by name, rows in order: the
    fixture's file s holds rows[s::files]), cut into `count` contiguous runs by tokens (shard = tokens of the
    split before the document * count // the split's tokens); one held-out shard at this size."""
    encoded, kept = _kept_heldout(root, docs)
    digests = {}
    for source, rows in docs.items():
        ordered = [row for s in range(files) for row in rows[s::files]]
        held = {i for s, i in kept if s == source}
        for split, n_shards in (("part", count), ("heldout", 1)):
            mine = [row for row in ordered if (row["id"] in held) == (split == "heldout")]
            ids = [[int(x) for x in encoded[(source, row["id"])]] for row in mine]
            total, before = sum(map(len, ids)), 0
            per = collections.defaultdict(list)
            for doc in ids:
                per[before * n_shards // total].append(doc)
                before += len(doc)
            for i in range(n_shards):
                name = shards.shard_name(i, count) if split == "part" else shards.heldout_name(0, 1)
                path = os.path.join(where, source, name)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                shards.write_shard(path, [records.encode_example(d, source) for d in per[i]])
                shards.write_lengths(path, [len(d) for d in per[i]])
                digests[f"{source}/{name}"] = _sha(path)
                digests[f"{source}/{shards.lengths_name(name)}"] = _sha(shards.lengths_name(path))
    return digests


def _sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _digests(out):
    found = {}
    for dirpath, _, files in os.walk(out):
        for name in files:
            if name != "manifest.json":
                found[os.path.relpath(os.path.join(dirpath, name), out)] = _sha(os.path.join(dirpath, name))
    return found


def test_shards_match_the_placement_spec_byte_for_byte(corpus, tokenized, tmp_path):
    root, docs = corpus
    assert _digests(root / "tokens") == _expected_shards(root, docs, 3, str(tmp_path))


def test_manifest_agrees_with_records_on_disk(corpus, tokenized):
    root, docs = corpus
    tok = Tokenizer.load(str(root / "tok" / "tokenizer.model"))
    for source, manifest in tokenized.items():
        held = manifest.heldout_manifest()
        assert manifest.documents + held.documents == len(docs[source])
        assert manifest.documents == sum(s.documents for s in manifest.shards)
        assert manifest.tokens == sum(s.tokens for s in manifest.shards)
        assert manifest.tokenizer["sha256"] == tok.sha256 and manifest.vocab_size == 700
        read_docs = read_tokens = 0
        lengths = []
        for shard, path in zip(manifest.shards, manifest.shard_paths):
            reader = ArrayRecordReader(path)
            recs = reader.read_all()
            reader.close()
            assert len(recs) == shard.documents
            ids = [records.decode_example(r)[0] for r in recs]
            assert sum(map(len, ids)) == shard.tokens
            read_docs, read_tokens = read_docs + len(recs), read_tokens + shard.tokens
            lengths += [len(x) for x in ids]
        assert (read_docs, read_tokens) == (manifest.documents, manifest.tokens)
        assert manifest.length_histogram["min"] == min(lengths)
        assert manifest.length_histogram["max"] == max(lengths)
        assert manifest.length_histogram["median"] == sorted(lengths)[(len(lengths) + 1) // 2 - 1]
        assert manifest.config_hash and manifest.code_version and "pipelines.tokenize" in manifest.created_by


def test_lengths_sidecars_hold_every_record_length(corpus, tokenized):
    root, _ = corpus
    for source, manifest in tokenized.items():
        assert manifest.lengths_paths == [shards.lengths_name(p) for p in manifest.shard_paths]
        for shard, path, sidecar in zip(manifest.shards, manifest.shard_paths, manifest.lengths_paths):
            reader = ArrayRecordReader(path)
            want = [len(records.decode_example(r)[0]) for r in reader.read_all()]
            reader.close()
            raw = open(sidecar, "rb").read()
            assert len(raw) == 4 * shard.documents
            assert np.frombuffer(raw, "<u4").tolist() == want      # uint32 little-endian, record order
        src = TokenizedSource.open(str(root / "tokens" / source))
        assert src.lengths().tolist() == [len(ids) for ids in src.iter_source()]


def test_every_document_decodes_back_to_its_text(corpus, tokenized):
    root, docs = corpus
    tok = Tokenizer.load(str(root / "tok" / "tokenizer.model"))
    for source in docs:
        src = TokenizedSource.open(str(root / "tokens" / source / "manifest.json"))
        held = TokenizedSource(src.manifest.heldout_manifest())
        texts = {}
        for split, part in (("train", src), ("heldout", held)):
            assert part.verify_tokens() == part.tokens
            texts[split] = []
            for ids in part.iter_source():
                assert ids[-1] == tok.eos_id and int(ids.max()) < 700
                texts[split].append(tok.decode(ids[:-1]))
        assert sorted(texts["train"] + texts["heldout"]) == sorted(r["text"] for r in docs[source])
        want = {i for s, i in _kept_heldout(root, docs)[1] if s == source}
        assert sorted(texts["heldout"]) == sorted(r["text"] for r in docs[source] if r["id"] in want)


def test_heldout_split_is_a_stated_fraction_with_a_minimum(tmp_path):
    rows = [{"id": f"doc-{i}"} for i in range(5000)]
    held = _heldout_ids(rows)
    assert 30 <= len(held) <= 70                                  # 1% of 5000 by hash, +- sampling noise
    small = _heldout_ids(rows[:100])
    assert len(small) == 10                                       # the minimum (16) capped at 10% of 100
    assert _heldout_ids(rows[:100]) == small and small <= {r["id"] for r in rows[:100]}
    assert _heldout_ids(rows[:9]) == set() or all(                # under 10 documents: only the fraction
        shards.heldout_key(i) < 0.01 * 2 ** 64 for i in _heldout_ids(rows[:9]))


def test_grain_reads_shards_like_maxtext(corpus, tokenized):
    import grain

    root, _ = corpus
    manifest = tokenized["code"]
    source = grain.sources.ArrayRecordDataSource(manifest.shard_paths)
    mine = TokenizedSource.open(str(root / "tokens" / "code"))
    assert len(source) == len(mine) == manifest.documents
    for i in range(len(source)):
        # MaxText: parse tf.train.Example, take the int64 list under "text" (train_data_columns).
        example = example_pb2.Example.FromString(source[i])
        ids = np.array(example.features.feature["text"].int64_list.value, np.int32)
        assert ids.tolist() == mine[i].tolist()
        assert example.features.feature["source"].bytes_list.value[0] == b"code"


def test_rerun_is_byte_identical(corpus, tokenized, tmp_path):
    root, _ = corpus
    before = _digests(root / "tokens")
    manifest_before = (root / "tokens" / "code" / "manifest.json").read_bytes()
    tokenize.run(_args(root, root / "tokens"))            # same output dir, same command
    assert _digests(root / "tokens") == before
    assert (root / "tokens" / "code" / "manifest.json").read_bytes() == manifest_before
    tokenize.run(_args(root, tmp_path / "elsewhere"))       # fresh directory
    assert _digests(tmp_path / "elsewhere") == before


def test_rerun_over_a_crashed_run_recovers_identical_bytes(corpus, tokenized, tmp_path):
    root, _ = corpus
    out = tmp_path / "crashed"
    shutil.copytree(root / "tokens", out)
    for source in ("code", "text"):
        os.unlink(out / source / "manifest.json")           # the crash came before the manifest
    half = out / "code" / shards.shard_name(1, 3)
    half.write_bytes(half.read_bytes()[: half.stat().st_size // 3])      # half-written shard
    (out / "code" / f"{shards.TEMP_PREFIX}dead-{shards.shard_name(0, 3)}").write_bytes(b"partial")
    (out / "text" / shards.shard_name(0, 7)).write_bytes(b"from a run with another shard count")
    (out / "text" / shards.lengths_name(shards.shard_name(3, 7))).write_bytes(b"\0\0\0\0")
    os.unlink(out / "code" / shards.lengths_name(shards.shard_name(2, 3)))   # crash between shard and sidecar
    tokenize.run(_args(root, out))
    assert _digests(out) == _digests(root / "tokens")       # stale temp, foreign shard and sidecar removed too


def test_killed_subprocess_run_recovers_identical_bytes(corpus, tmp_path):
    root, docs = corpus
    expected = _expected_shards(root, docs, 40, str(tmp_path / "spec"))
    env = dict(os.environ, PYTHONPATH=REPO)
    killed_midway = False
    for attempt in range(3):
        out = tmp_path / f"killed{attempt}"
        proc = subprocess.Popen([sys.executable, "-m", "pipelines.tokenize", *_args(root, out, 40)],
                                cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if out.exists() and any(n.startswith(("part-", shards.TEMP_PREFIX))
                                    for d in out.iterdir() if d.is_dir() for n in os.listdir(d)):
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.005)
        proc.wait()
        manifests = [s for s in docs if (out / s / "manifest.json").exists()]
        if proc.returncode == -signal.SIGKILL and len(manifests) < len(docs):
            killed_midway = True
            break
    assert killed_midway, "could not interrupt the job between its first shard and its last manifest"
    tokenize.run(_args(root, out, 40))
    assert _digests(out) == expected


def test_other_tokenizer_is_refused_unless_overwrite(corpus, tokenized, tmp_path):
    root, docs = corpus
    out = tmp_path / "tokens"
    shutil.copytree(root / "tokens", out)
    other = tmp_path / "other.model"
    other.write_bytes(train_tokenizer(docs, 600))
    args = ["--input", str(root / "curated"), "--tokenizer", str(other), "--output", str(out), "--num-shards", "3"]
    with pytest.raises(SystemExit, match=r"code/manifest.json was written with tokenizer"):
        tokenize.run(args)
    assert load_manifest(str(out / "code")).tokenizer_sha256 == tokenized["code"].tokenizer_sha256
    manifests = tokenize.run(args + ["--overwrite"])
    assert manifests["code"].vocab_size == 600
    assert TokenizedSource.open(str(out / "code")).verify_tokens() == manifests["code"].tokens


def test_source_selection_and_unknown_source(corpus, tmp_path):
    root, _ = corpus
    manifests = tokenize.run(_args(root, tmp_path / "t", 2, "--sources", "markup"))
    assert list(manifests) == ["markup"] and sorted(os.listdir(tmp_path / "t")) == ["markup"]
    with pytest.raises(FileNotFoundError, match="nosuch"):
        tokenize.run(_args(root, tmp_path / "t", 2, "--sources", "markup,nosuch"))


def test_target_shard_tokens_sets_the_shard_count(corpus, tokenized, tmp_path):
    root, _ = corpus
    per_shard = tokenized["code"].tokens // 4 + 1
    manifests = tokenize.run(_args(root, tmp_path / "t", 0, "--sources", "code",
                                   "--target-shard-tokens", str(per_shard)))
    assert len(manifests["code"].shards) == 4


@pytest.mark.gcs
def test_gcs_end_to_end(corpus, tokenized, gcs_emulator):
    root, _ = corpus
    base = f"gs://{gcs_emulator}/tokenize-{uuid.uuid4().hex[:8]}"
    for dirpath, _, files in os.walk(root / "curated"):
        for name in files:
            rel = os.path.relpath(os.path.join(dirpath, name), root / "curated")
            paths.write_atomic(f"{base}/curated/{rel}", open(os.path.join(dirpath, name), "rb").read())
    paths.write_atomic(f"{base}/tok/tokenizer.model", (root / "tok" / "tokenizer.model").read_bytes())
    manifests = tokenize.run(["--input", f"{base}/curated", "--tokenizer", f"{base}/tok/tokenizer.model",
                              "--output", f"{base}/tokens", "--num-shards", "3"])
    assert {s: m.tokens for s, m in manifests.items()} == {s: m.tokens for s, m in tokenized.items()}
    with tempfile.TemporaryDirectory() as cache:
        src = TokenizedSource.open(f"{base}/tokens/code/manifest.json", cache_dir=cache)
        assert src.verify_tokens() == tokenized["code"].tokens
        local = TokenizedSource.open(str(root / "tokens" / "code"))
        assert [x.tolist() for x in src.iter_source()] == [x.tolist() for x in local.iter_source()]
    for shard in tokenized["code"].shards:
        with paths.open_read(f"{base}/tokens/code/{shard.path}") as f:
            remote = hashlib.sha256(f.read()).hexdigest()
        assert remote == _sha(str(root / "tokens" / "code" / shard.path))
