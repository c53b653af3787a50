"""``near_dedup``: near-duplicate removal with MinHash + LSH, vectorised with NumPy and Arrow.

How it works, all in array operations (no per-shingle Python):

1. Tokens: Arrow lower-cases and splits every ``input`` on non-word characters and
   dictionary-encodes the words; each distinct word gets a random 64-bit value (seeded).
2. Shingles: the hash of ``ngram`` consecutive words is a polynomial over those values,
   computed for the whole corpus with ``ngram`` shifted multiply-adds; shingles that would
   cross a document boundary are dropped (a document shorter than ``ngram`` words is one shingle).
3. MinHash: for each of ``num_perm`` multiply-shift hash functions, ``np.minimum.reduceat``
   gives every document's minimum at once; the signature is ``num_perm`` 32-bit values.
4. LSH: the signature is cut into ``bands`` bands of ``rows`` values (chosen from
   ``threshold`` by datasketch's rule unless given, but with false negatives weighted 0.7
   rather than 0.5: candidates are verified, so a false candidate costs one comparison while a
   missed pair is a duplicate left in; at 0.7 and 128 permutations that is 16 bands of 8 rows
   instead of 14 of 9); documents whose band hashes are equal
   are candidates. Candidates whose estimated Jaccard similarity (the share of equal signature
   values) reaches ``threshold`` are joined (union-find); the first row of each cluster is kept.

Empty documents are never treated as duplicates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from podium.data.steps.base import Params, RowProgress, StepOutcome, example, report

_CHUNK_SHINGLES = 1 << 20
_POLY = np.uint64(0x9E3779B97F4A7C15)


def optimal_bands(
    threshold: float, num_perm: int, false_negative_weight: float = 0.5
) -> tuple[int, int]:
    """The (bands, rows) with bands*rows <= num_perm minimising the weighted sum of the false
    positive and false negative probability mass (datasketch's rule; weight 0.5 is its default).
    """
    grid = np.linspace(0.0, 1.0, 501)
    best = (1, num_perm)
    best_error = float("inf")
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            prob = 1.0 - (1.0 - grid**rows) ** bands
            false_pos = np.trapezoid(np.where(grid <= threshold, prob, 0.0), grid)
            false_neg = np.trapezoid(np.where(grid >= threshold, 1.0 - prob, 0.0), grid)
            weight = false_negative_weight
            error = float((1 - weight) * false_pos + weight * false_neg)
            if error < best_error:
                best, best_error = (bands, rows), error
    return best


@dataclass(frozen=True)
class Shingles:
    """Every document's shingle hashes, concatenated, with each document's start offset."""

    hashes: np.ndarray[Any, np.dtype[np.uint64]]
    offsets: np.ndarray[Any, np.dtype[np.int64]]  # len = documents + 1


def shingle(texts: pa.Array, ngram: int, seed: int) -> Shingles:
    """Word ``ngram`` shingle hashes of ``texts``."""
    count = len(texts)
    words = pc.split_pattern_regex(pc.utf8_lower(pc.fill_null(texts, "")), r"[^\w]+")
    flat = pc.list_flatten(words)
    owner = pc.list_parent_indices(words)
    keep = pc.not_equal(flat, "")
    flat = pc.filter(flat, keep)
    owner = pc.filter(owner, keep).to_numpy(zero_copy_only=False).astype(np.int64)
    codes = (
        pc.dictionary_encode(flat).combine_chunks()
        if isinstance(flat, pa.ChunkedArray)
        else pc.dictionary_encode(flat)
    )
    rng = np.random.default_rng(seed)
    vocabulary = rng.integers(0, 2**63, size=max(len(codes.dictionary), 1), dtype=np.uint64)
    tokens = vocabulary[codes.indices.to_numpy(zero_copy_only=False).astype(np.int64)]
    lengths = np.bincount(owner, minlength=count).astype(np.int64)
    starts = np.concatenate(([0], np.cumsum(lengths)))[:-1]

    total = len(tokens)
    span = max(total - ngram + 1, 0)
    combined = np.zeros(span, dtype=np.uint64)
    for offset in range(ngram):
        combined = combined * _POLY + tokens[offset : offset + span]
    # A shingle is valid when its first and last word belong to the same document.
    valid = owner[:span] == owner[ngram - 1 : ngram - 1 + span] if span else np.zeros(0, bool)
    hashes = combined[valid]
    per_doc = np.bincount(owner[:span][valid], minlength=count).astype(np.int64)

    short = np.flatnonzero((lengths > 0) & (lengths < ngram))
    if len(short):
        # Documents shorter than one shingle: the hash of all their words, as one shingle.
        extra = np.zeros(len(short), dtype=np.uint64)
        for i, doc in enumerate(short):
            value = np.zeros(1, dtype=np.uint64)
            for token in tokens[starts[doc] : starts[doc] + lengths[doc]]:
                value = value * _POLY + token
            extra[i] = value[0]
        doc_of = np.concatenate((owner[:span][valid], short))
        order = np.argsort(doc_of, kind="stable")
        hashes = np.concatenate((hashes, extra))[order]
        per_doc[short] = 1
    offsets = np.concatenate(([0], np.cumsum(per_doc))).astype(np.int64)
    return Shingles(hashes, offsets)


def signatures(shingles: Shingles, num_perm: int, seed: int) -> np.ndarray[Any, Any]:
    """MinHash signatures, shape (documents, num_perm), uint32; rows of empty docs are max."""
    count = len(shingles.offsets) - 1
    rng = np.random.default_rng(seed + 1)
    mult = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) | np.uint64(1)
    add = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    out = np.full((count, num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
    nonempty = np.flatnonzero(np.diff(shingles.offsets) > 0)
    # Documents in chunks of about _CHUNK_SHINGLES shingles keep the temporaries cache-sized.
    begin = 0
    while begin < len(nonempty):
        first = shingles.offsets[nonempty[begin]]
        end = int(np.searchsorted(shingles.offsets[nonempty], first + _CHUNK_SHINGLES, "right"))
        end = max(end, begin + 1)
        docs = nonempty[begin:end]
        lo, hi = shingles.offsets[docs[0]], shingles.offsets[docs[-1] + 1]
        block = shingles.hashes[lo:hi]
        starts = shingles.offsets[docs] - lo
        for p in range(num_perm):
            values = ((block * mult[p] + add[p]) >> np.uint64(32)).astype(np.uint32)
            out[docs, p] = np.minimum.reduceat(values, starts)
        begin = end
    return out


def candidate_pairs(
    sig: np.ndarray[Any, Any], bands: int, rows: int, seed: int
) -> np.ndarray[Any, Any]:
    """Pairs (i < j) of documents sharing at least one band, shape (pairs, 2)."""
    count = sig.shape[0]
    rng = np.random.default_rng(seed + 2)
    found = []
    for band in range(bands):
        part = sig[:, band * rows : (band + 1) * rows].astype(np.uint64)
        weights = rng.integers(1, 2**63, size=rows, dtype=np.uint64) | np.uint64(1)
        keys = (part * weights).sum(axis=1, dtype=np.uint64)
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        same = np.flatnonzero(ordered[1:] == ordered[:-1])
        if len(same):
            found.append(np.stack((order[same], order[same + 1]), axis=1))
    if not found or count < 2:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.concatenate(found)
    pairs.sort(axis=1)
    return np.unique(pairs, axis=0)


def similar_pairs(
    sig: np.ndarray[Any, Any], pairs: np.ndarray[Any, Any], threshold: float
) -> np.ndarray[Any, Any]:
    """The candidate ``pairs`` whose estimated Jaccard similarity is at least ``threshold``."""
    if not len(pairs):
        return pairs
    keep = np.zeros(len(pairs), dtype=bool)
    step = 65536
    for lo in range(0, len(pairs), step):
        chunk = pairs[lo : lo + step]
        estimate = (sig[chunk[:, 0]] == sig[chunk[:, 1]]).mean(axis=1)
        keep[lo : lo + step] = estimate >= threshold
    return pairs[keep]


def clusters(count: int, edges: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Each document's cluster representative: the smallest index connected to it."""
    parent = np.arange(count)

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = int(parent[x])
        return x

    for a, b in edges.tolist():
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.array([root(i) for i in range(count)], dtype=np.int64)


def near_duplicates(
    texts: pa.Array,
    *,
    ngram: int = 3,
    num_perm: int = 128,
    threshold: float = 0.7,
    bands: int | None = None,
    rows: int | None = None,
    seed: int = 1,
    false_negative_weight: float = 0.7,
) -> np.ndarray[Any, Any]:
    """Each document's representative index (itself when it is no near-duplicate)."""
    if bands is None or rows is None:
        bands, rows = optimal_bands(threshold, num_perm, false_negative_weight)
    sig = signatures(shingle(texts, ngram, seed), num_perm, seed)
    empty = sig[:, 0] == np.iinfo(np.uint32).max
    edges = similar_pairs(sig, candidate_pairs(sig, bands, rows, seed), threshold)
    if len(edges):
        edges = edges[~(empty[edges[:, 0]] | empty[edges[:, 1]])]
    return clusters(sig.shape[0], edges)


class NearDedup:
    """The ``near_dedup`` step."""

    name = "near_dedup"

    def __init__(self, given: Mapping[str, Any]) -> None:
        params = Params(self.name, given)
        self.ngram = params.number("ngram", 3, low=1, high=32, integer=True)
        self.num_perm = params.number("num_perm", 128, low=8, high=1024, integer=True)
        self.threshold = params.number("threshold", 0.7, low=0.05, high=1.0)
        self.seed = params.number("seed", 1, low=0, high=2**31, integer=True)
        self.fn_weight = params.number("false_negative_weight", 0.7, low=0.0, high=1.0)
        self.bands: int | None = None
        self.rows: int | None = None
        if "bands" in given or "rows" in given:
            self.bands = params.number("bands", 16, low=1, high=1024, integer=True)
            self.rows = params.number("rows", 8, low=1, high=1024, integer=True)
            if self.bands * self.rows > self.num_perm:
                raise params.fail("bands", f"times rows must be at most num_perm ({self.num_perm})")
        self.params = params.done()

    def apply(self, table: pa.Table, rows: RowProgress | None = None) -> StepOutcome:
        """Keep the first row of every near-duplicate cluster."""
        inputs = table["input"].combine_chunks()
        representative = near_duplicates(
            inputs,
            ngram=self.ngram,
            num_perm=self.num_perm,
            threshold=self.threshold,
            bands=self.bands,
            rows=self.rows,
            seed=self.seed,
            false_negative_weight=self.fn_weight,
        )
        keep = np.flatnonzero(representative == np.arange(len(representative)))
        dropped = np.flatnonzero(representative != np.arange(len(representative)))
        examples = [
            example(table, int(i), duplicate_of=int(representative[i])) for i in dropped[:5]
        ]
        result = table.take(pa.array(keep, pa.int64()))
        details = {"clusters": len(np.unique(representative[dropped]))}
        return StepOutcome(
            result,
            report(self.name, self.params, table, result, examples=examples, details=details),
        )
