"""Near-duplicate removal: Podium's ``near_dedup`` (NumPy MinHash + LSH) vs datasketch.

Both run on the same generated corpus in the same process and run: random documents of 80-120
words from a 5,000-word vocabulary, and for every tenth one a planted near-duplicate (two
words replaced; word 3-gram Jaccard about 0.86). Both use word 3-gram shingles, 128
permutations and a Jaccard threshold of 0.7. datasketch picks 14 bands of 9 rows; Podium, which
verifies every candidate and so weighs missed pairs more (``false_negative_weight`` 0.7), picks
16 bands of 8; ``--same-bands`` runs Podium with datasketch's 14 x 9 as well.

datasketch is used as its docs show: one ``MinHash`` per document fed with
``update_batch``, ``MinHashLSH.query`` then ``insert``, and candidates kept when their estimated
Jaccard reaches the threshold (LSH alone returns unverified candidates).

A document counts as removed when it is matched to an earlier one. Recall: the share of planted
copies matched to their original; precision: the share of removed documents that are planted
copies. Then, in a subprocess, the peak memory (VmHWM) of importing a generated 1M-row
JSONL file into Parquet the way ``PUT /datasets/{name}/content`` does.

    .venv/bin/python bench/dedup.py            # 100k documents (+10k planted)
    .venv/bin/python bench/dedup.py --quick    # 10k documents
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from podium.data.steps.minhash import near_duplicates

NGRAM, NUM_PERM, THRESHOLD = 3, 128, 0.7
RESULTS = Path(__file__).parent / "results" / "dedup.json"


def corpus(docs: int, seed: int = 0) -> tuple[list[str], list[tuple[int, int]]]:
    """Random documents plus a planted near-duplicate of every tenth one."""
    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(5000)]
    texts = [" ".join(rng.choices(vocabulary, k=rng.randint(80, 120))) for _ in range(docs)]
    planted = []
    for original in range(0, docs, 10):
        words = texts[original].split()
        for _ in range(2):
            words[rng.randrange(len(words))] = rng.choice(vocabulary)
        planted.append((original, len(texts)))
        texts.append(" ".join(words))
    return texts, planted


def run_podium(
    texts: list[str], bands: int | None = None, rows: int | None = None
) -> dict[int, int]:
    representative = near_duplicates(
        pa.array(texts),
        ngram=NGRAM,
        num_perm=NUM_PERM,
        threshold=THRESHOLD,
        bands=bands,
        rows=rows,
    )
    return {
        int(i): int(representative[i])
        for i in np.flatnonzero(representative != np.arange(len(texts)))
    }


def run_datasketch(texts: list[str]) -> dict[int, int]:
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    hashes: list[Any] = []
    matched: dict[int, int] = {}
    for index, text in enumerate(texts):
        words = text.lower().split()
        grams = [" ".join(words[i : i + NGRAM]).encode() for i in range(len(words) - NGRAM + 1)]
        minhash = MinHash(num_perm=NUM_PERM)
        minhash.update_batch(grams)
        hashes.append(minhash)
        found = [c for c in lsh.query(minhash) if hashes[c].jaccard(minhash) >= THRESHOLD]
        if found:
            matched[index] = min(found)
        lsh.insert(index, minhash)
    return matched


def quality(matched: dict[int, int], planted: list[tuple[int, int]]) -> tuple[float, float]:
    hits = sum(matched.get(copy) == original for original, copy in planted)
    copies = {copy for _, copy in planted}
    precision = len(set(matched) & copies) / len(matched) if matched else 1.0
    return hits / len(planted), precision


def import_peak(rows: int) -> dict[str, float]:
    """Peak RSS of a subprocess importing a generated ``rows``-line JSONL into Parquet."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "rows.jsonl"
        with source.open("w") as out:
            for i in range(rows):
                out.write(
                    json.dumps(
                        {
                            "input": f"question {i}: what is {i} plus {i}?",
                            "expected": str(2 * i),
                            "metadata": {"source": "bench", "i": i},
                        }
                    )
                    + "\n"
                )
        # VmHWM (peak resident set of this process image) rather than ru_maxrss, which Linux
        # carries over from the parent across fork + exec.
        child = (
            "import tempfile, time\n"
            "from podium.data import formats\n"
            "def hwm():\n"
            "    for line in open('/proc/self/status'):\n"
            "        if line.startswith('VmHWM:'):\n"
            "            return int(line.split()[1])\n"
            "base = hwm()\n"
            "start = time.perf_counter()\n"
            f"with open({str(source)!r}, 'rb') as src, tempfile.TemporaryFile() as dst:\n"
            "    records = formats.read_records(src, 'jsonl')\n"
            "    n = formats.write_parquet(formats.batched(records), dst)\n"
            "took = time.perf_counter() - start\n"
            "print(n, base, hwm(), took)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", child], capture_output=True, text=True, check=True
        ).stdout.split()
        size = source.stat().st_size
    n, base, peak, took = int(out[0]), int(out[1]), int(out[2]), float(out[3])
    return {
        "rows": n,
        "file_mib": size / 2**20,
        "baseline_mib": base / 1024,
        "peak_mib": peak / 1024,
        "rows_per_s": n / took,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10k documents, 100k import rows")
    parser.add_argument("--docs", type=int, help="documents before planting (default 100k)")
    parser.add_argument("--import-rows", type=int, help="JSONL rows to import (default 1M)")
    parser.add_argument("--same-bands", action="store_true", help="also Podium with 14 x 9 bands")
    args = parser.parse_args()
    docs = args.docs or (10_000 if args.quick else 100_000)
    import_rows = args.import_rows or (100_000 if args.quick else 1_000_000)

    texts, planted = corpus(docs)
    print(f"corpus: {len(texts):,} documents, {len(planted):,} planted near-duplicates")
    systems: list[tuple[str, Any]] = [
        ("podium near_dedup", run_podium),
        ("datasketch MinHashLSH", run_datasketch),
    ]
    if args.same_bands:
        systems.append(("podium, 14 x 9 bands", lambda t: run_podium(t, 14, 9)))
    rows = []
    for name, runner in systems:
        start = time.perf_counter()
        matched = runner(texts)
        took = time.perf_counter() - start
        recall, precision = quality(matched, planted)
        rows.append(
            {
                "system": name,
                "seconds": took,
                "docs_per_s": len(texts) / took,
                "recall": recall,
                "precision": precision,
                "removed": len(matched),
            }
        )
    podium, peer = rows[0], rows[1]
    print()
    print(f"{'system':<24}{'docs/s':>12}{'seconds':>10}{'recall':>9}{'precision':>11}")
    for row in rows:
        print(
            f"{row['system']:<24}{row['docs_per_s']:>12,.0f}{row['seconds']:>10.2f}"
            f"{row['recall']:>9.3f}{row['precision']:>11.3f}"
        )
    ratio = podium["docs_per_s"] / peer["docs_per_s"]
    print(
        f"{'ratio podium/datasketch':<24}{ratio:>11.1f}x{'':>10}"
        f"{podium['recall'] - peer['recall']:>+9.3f}"
        f"{podium['precision'] - peer['precision']:>+11.3f}"
    )

    memory = import_peak(import_rows)
    print()
    print(
        f"import {memory['rows']:,} JSONL rows ({memory['file_mib']:.0f} MiB) -> Parquet: "
        f"peak RSS {memory['peak_mib']:.0f} MiB (after imports {memory['baseline_mib']:.0f} MiB), "
        f"{memory['rows_per_s']:,.0f} rows/s"
    )

    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": {
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                },
                "docs": len(texts),
                "planted": len(planted),
                "ngram": NGRAM,
                "num_perm": NUM_PERM,
                "threshold": THRESHOLD,
                "dedup": rows,
                "throughput_ratio": ratio,
                "import": memory,
                "self_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            },
            indent=2,
        )
    )
    print(f"\nresults: {RESULTS}")


if __name__ == "__main__":
    main()
