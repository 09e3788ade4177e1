"""Near-duplicate search on 256-bit perceptual hashes, indexed so it never compares every pair.

The index is multi-index hashing by the pigeonhole principle (Norouzi et al., "Fast search in Hamming
space with multi-index hashing", CVPR 2012): cut the bits into r + 1 chunks; two hashes within
Hamming distance r agree exactly on at least one chunk. Candidate pairs are those sharing a chunk
value (found by sorting, in numpy), then their exact distance decides. The search is exact: it finds
every pair within the threshold, and its cost grows with the number of candidates, not with n^2.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

# Fixed permutation of the bit positions before chunking: the low-frequency DCT bits of MRI slices
# are nearly constant, and a chunk made of them alone would put every image in one bucket.
_PERMUTATION_SEED = 20240501
_PAIR_BATCH = 200_000


def hashes_to_words(hexes: list[list[str]]) -> np.ndarray:
    """(n, n_crops) lists of hex hashes -> uint64 array (n, n_crops, words)."""
    n = len(hexes)
    if n == 0:
        return np.zeros((0, 0, 0), dtype=np.uint64)
    raw = np.frombuffer(b"".join(bytes.fromhex(h) for row in hexes for h in row), dtype=">u8")
    crops = len(hexes[0])
    return raw.astype(np.uint64).reshape(n, crops, -1)


def _popcount(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(x).astype(np.int32)
    as_bytes = x.view(np.uint8).reshape(*x.shape, 8)
    return np.unpackbits(as_bytes, axis=-1).sum(-1, dtype=np.int32)


def pair_distances(words: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Crop-tolerant distance of pairs (i, j): the smallest Hamming distance between one image's
    whole-image hash and any crop hash of the other, either way round."""
    out = np.empty(len(i), dtype=np.int32)
    for start in range(0, len(i), _PAIR_BATCH):
        a = words[i[start:start + _PAIR_BATCH]]
        b = words[j[start:start + _PAIR_BATCH]]
        d_ab = _popcount(a[:, :1, :] ^ b).sum(-1).min(1)
        d_ba = _popcount(a ^ b[:, :1, :]).sum(-1).min(1)
        out[start:start + len(a)] = np.minimum(d_ab, d_ba)
    return out


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    """np.unique by sorting: numpy >= 2.3 answers np.unique of integers with a hash table that is
    ten times slower than a sort on the millions of candidate keys of a large dataset."""
    a = np.sort(a)
    if len(a) == 0:
        return a
    keep = np.empty(len(a), dtype=bool)
    keep[0] = True
    np.not_equal(a[1:], a[:-1], out=keep[1:])
    return a[keep]


def _chunk_values(bits: np.ndarray, n_chunks: int) -> list[np.ndarray]:
    """bits (..., n_bits) bool -> one int64 array (...) per chunk."""
    n_bits = bits.shape[-1]
    edges = np.linspace(0, n_bits, n_chunks + 1).round().astype(int)
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        weights = (1 << np.arange(hi - lo, dtype=np.int64))
        out.append((bits[..., lo:hi].astype(np.int64) * weights).sum(-1))
    return out


def candidate_pairs(words: np.ndarray, threshold: int, *, between: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i < j) whose whole-image hash of one shares a chunk with any crop hash of the other.

    `between=k` keeps only pairs across the first k images and the rest (i < k <= j): two datasets
    stacked one after the other, compared with each other and not within themselves."""
    n, n_crops, n_words = words.shape
    n_bits = 64 * n_words
    if n < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    n_chunks = min(threshold + 1, n_bits)
    if n_bits // n_chunks < 8:
        log.warning("near-duplicate threshold %d leaves chunks of %d bits: the index degrades towards "
                    "comparing every pair", threshold, n_bits // n_chunks)
    bits = np.unpackbits(words.astype(">u8").view(np.uint8).reshape(n, n_crops, -1), axis=-1).astype(bool)
    perm = np.random.default_rng(_PERMUTATION_SEED).permutation(n_bits)
    bits = bits[..., perm]
    keys = []
    for chunk in _chunk_values(bits, n_chunks):
        table = chunk[:, 0]  # indexed: whole-image hashes
        order = np.argsort(table, kind="stable")
        sorted_table = table[order]
        query = chunk.reshape(-1)  # queries: every crop of every image
        q_img = np.repeat(np.arange(n), n_crops)
        lo = np.searchsorted(sorted_table, query, side="left")
        hi = np.searchsorted(sorted_table, query, side="right")
        counts = hi - lo
        if counts.sum() == 0:
            continue
        rows = np.repeat(np.arange(len(query)), counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        other = order[lo[rows] + offsets]
        mine = q_img[rows]
        keep = mine != other
        a = np.minimum(mine[keep], other[keep])
        b = np.maximum(mine[keep], other[keep])
        if between is not None:
            across = (a < between) & (b >= between)
            a, b = a[across], b[across]
        keys.append(_sorted_unique(a * n + b))
    if not keys:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    merged = _sorted_unique(np.concatenate(keys))
    return merged // n, merged % n


def near_pairs(words: np.ndarray, threshold: int, *,
               between: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """All pairs (i < j) within `threshold`: (i, j, distance, number of candidates checked); `between`
    as in `candidate_pairs`."""
    i, j = candidate_pairs(words, threshold, between=between)
    if len(i) == 0:
        return i, j, np.zeros(0, np.int32), 0
    d = pair_distances(words, i, j)
    keep = d <= threshold
    return i[keep], j[keep], d[keep], len(i)
