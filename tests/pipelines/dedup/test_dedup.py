"""Exact and near dedup: planted duplicates go, distinct docs stay, hot buckets stay linear."""
import collections
import functools

import apache_beam as beam
import numpy as np
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that

from pipelines.dedup import transforms as dedup
from pipelines.dedup import minhash
from pipelines.document import Document


def _words(rng, n, vocab=20000):
    return [f"w{int(i)}" for i in rng.integers(0, vocab, n)]


# The DirectRunner runs in this process: matchers pickle by reference to this module, so
# they can hand the collected elements back through a module global.
_COLLECTED: dict[str, list] = {}


def _capture(name, actual):
    _COLLECTED[name] = list(actual)


def _run(docs, transform):
    """Run one dedup transform; return ({"kept": ids, "rejected": [(id, reason, stage)]}, counters)."""
    _COLLECTED.clear()
    p = test_pipeline.TestPipeline()
    out = p | beam.Create(docs) | transform
    kept_ids = out.kept | "kept ids" >> beam.Map(lambda d: d.id)
    rej = out.rejected | "rejected ids" >> beam.Map(lambda r: (r.id, r.reason, r.stage))
    assert_that(kept_ids, functools.partial(_capture, "kept"), label="capture kept")
    assert_that(rej, functools.partial(_capture, "rejected"), label="capture rejected")
    collected = _COLLECTED
    result = p.run()
    result.wait_until_finish()
    counters = collections.Counter()
    for c in result.metrics().query(MetricsFilter().with_namespace("curate"))["counters"]:
        counters[c.key.metric.name] += c.committed
    return collected, counters


def test_exact_dedup_keeps_smallest_id_per_source():
    docs = [Document("b", "code", "x = 1\nprint(x)"), Document("a", "code", "x = 1\n  print(x)  \n"),
            Document("c", "code", "x = 2"), Document("d", "markup", "x = 1 print(x)")]
    got, counters = _run(docs, dedup.ExactDedup())
    assert sorted(got["kept"]) == ["a", "c", "d"]
    assert got["rejected"] == [("b", "exact_duplicate: a", "dedup")]
    assert counters["code/exact_duplicates"] == 1
    got, counters = _run(docs, dedup.ExactDedup(across_sources=True))
    assert sorted(got["kept"]) == ["a", "c"]
    assert sorted(r[0] for r in got["rejected"]) == ["b", "d"]
    assert counters["markup/exact_duplicates"] == 1


def test_pure_helpers():
    assert dedup.star_edges(["c", "a", "b", "a"]) == [("b", "a"), ("c", "a")]
    assert dedup.propagate("n", [("self", "n", ("m",)), ("msg", "k")]) == ("n", "k", ("m",), True)
    assert dedup.propagate("k", [("self", "k", ("n",)), ("msg", "n")]) == ("k", "k", ("n",), False)
    kept, dups = dedup.resolve_exact([Document("z", "t", "x"), Document("y", "t", "x")])
    assert kept.id == "y" and [r.reason for r in dups] == ["exact_duplicate: y"]


def _labelled_corpus(n_pairs=40, seed=0):
    """Positive pairs (Jaccard ~0.85-0.95) and negative pairs (~0.5), each pair on its own vocabulary."""
    rng = np.random.default_rng(seed)
    docs, positives, negatives = [], [], []
    for i in range(n_pairs):
        base = _words(rng, 300)
        near = list(base)
        for j in rng.choice(300, size=int(rng.integers(1, 4)), replace=False):
            near[j] = f"edit{i}_{j}"
        a, b, c, d = f"p{i:03d}a", f"p{i:03d}b", f"n{i:03d}a", f"n{i:03d}b"
        docs += [Document(a, "text", " ".join(base)), Document(b, "text", " ".join(near))]
        other = _words(rng, 300)
        docs += [Document(c, "text", " ".join(other)),
                 Document(d, "text", " ".join(other[:200] + _words(rng, 100)))]
        positives.append((a, b, minhash.jaccard(" ".join(base), " ".join(near))))
        negatives.append((c, d, minhash.jaccard(docs[-2].text, docs[-1].text)))
    return docs, positives, negatives


def test_near_dedup_recall_and_precision():
    docs, positives, negatives = _labelled_corpus()
    assert min(j for *_, j in positives) >= 0.85 and max(j for *_, j in negatives) <= 0.55
    got, counters = _run(docs, dedup.NearDedup(minhash.MinHashConfig(threshold=0.7)))
    removed = {r[0]: r[1] for r in got["rejected"]}
    true_pos = sum(1 for a, b, _ in positives if removed.get(b) == f"near_duplicate: {a}")
    false_pos = sum(1 for a, b, _ in negatives if a in removed or b in removed)
    recall = true_pos / len(positives)
    precision = true_pos / max(1, len(removed))
    print(f"near dedup @0.7: recall {recall:.3f} precision {precision:.3f} "
          f"({true_pos}/{len(positives)} planted, {len(removed)} removed, {false_pos} negative pairs hit)")
    assert recall >= 0.9 and precision >= 0.9
    assert len(got["kept"]) + len(removed) == len(docs)
    assert counters["text/near_duplicates"] == len(removed)
    assert counters["dedup/cc_not_converged"] == 0


def test_chain_merges_into_one_component_and_keeps_min():
    rng = np.random.default_rng(3)
    words = _words(rng, 400)
    # d0 ~ d1 ~ d2 ~ d3 by sliding windows; d0 and d3 share little, yet all join one component.
    docs = [Document(f"d{k}", "code", " ".join(words[k * 20: k * 20 + 300])) for k in range(4)]
    docs.append(Document("e", "code", " ".join(_words(rng, 300))))
    got, counters = _run(docs, dedup.NearDedup(max_rounds=4))
    assert sorted(got["kept"]) == ["d0", "e"]
    assert sorted(got["rejected"]) == [(f"d{k}", "near_duplicate: d0", "dedup") for k in (1, 2, 3)]
    assert counters["dedup/cc_changed_round_1"] > 0


def test_a_shared_document_id_is_counted_loudly():
    """Readers key documents by file + row; two documents with one id (a reader bug) are counted, not hidden."""
    rng = np.random.default_rng(5)
    docs = [Document("same", "code", " ".join(_words(rng, 200))), Document("same", "code", " ".join(_words(rng, 200)))]
    got, counters = _run(docs, dedup.NearDedup())
    assert got["kept"] == ["same", "same"] and counters["dedup/shared_document_ids"] == 2


def test_unconverged_components_stay_valid():
    rng = np.random.default_rng(4)
    words = _words(rng, 600)
    docs = [Document(f"d{k}", "code", " ".join(words[k * 15: k * 15 + 300])) for k in range(8)]
    got, counters = _run(docs, dedup.NearDedup(max_rounds=1, verify_edges=False))
    # One round cannot reach across a long chain: several survivors, no doc lost.
    assert len(got["kept"]) + len(got["rejected"]) == 8
    assert "d0" in got["kept"]


def test_hot_bucket_is_linear_in_edges():
    rng = np.random.default_rng(5)
    base = _words(rng, 60)
    cfg = minhash.MinHashConfig()
    bands, _ = cfg.band_rows
    n = 2000
    texts = [" ".join(base + [f"tail{i}"]) for i in range(n)]
    buckets = collections.defaultdict(list)
    for i, t in enumerate(texts):
        for key, doc_id in dedup.band_entries(f"h{i:05d}", "code", minhash.signature(t, cfg), cfg):
            buckets[key].append(doc_id)
    edges = [e for ids in buckets.values() for e in dedup.star_edges(ids)]
    distinct = set(edges)
    print(f"hot bucket: {n} docs, {len(buckets)} buckets, {len(edges)} star edges, "
          f"{len(distinct)} distinct (all pairs would be {n * (n - 1) // 2})")
    assert max(len(ids) for ids in buckets.values()) > 1000   # it is hot
    assert len(edges) <= bands * (n - 1)
    assert len(distinct) <= bands * (n - 1) < n * (n - 1) // 2 // 30


def test_hot_bucket_through_beam_keeps_one():
    rng = np.random.default_rng(6)
    base = _words(rng, 60)
    n = 2000
    docs = [Document(f"h{i:05d}", "code", " ".join(base + [f"tail{i}"])) for i in range(n)]
    bands, _ = minhash.MinHashConfig().band_rows
    got, counters = _run(docs, dedup.NearDedup())
    print(f"hot bucket via Beam: {counters['dedup/candidate_edges']} candidate edges for {n} docs")
    assert got["kept"] == ["h00000"]
    assert counters["code/near_duplicates"] == n - 1
    assert counters["dedup/candidate_edges"] <= bands * (n - 1)
