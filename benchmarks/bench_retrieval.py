"""Batched in-memory melody retrieval vs the authors' way, on random unit vectors.

Ours: ``VectorDB`` built once, kept in memory, all queries in one faiss call, then the top-1
embedding r looked up. Authors' way (docs/method.md §2.3): for every batch the index and the vectors are
re-read from disk, then the batch is searched one query at a time in a Python loop.

Every number printed is measured on the queries actually run; nothing is extrapolated. The slow
path runs fewer queries (``--slow-queries``) so the default finishes in a few minutes on 2 cores.

    python benchmarks/bench_retrieval.py --sizes 5000,50000 --kinds flat,hnsw --queries 1000
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from mmgen_core.retrieval import IndexConfig, VectorDB


def random_unit(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random unit vectors of dimension ``d`` (float32), built in chunks to bound memory."""
    out = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 100_000):
        chunk = rng.standard_normal((min(100_000, n - start), d), dtype=np.float32)
        out[start:start + len(chunk)] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    return out


def ours(db: VectorDB, queries: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """Retrieved top-1 embeddings r and seconds: one batched search plus the embedding lookup."""
    start = time.perf_counter()
    r = db.embeddings(db.search(queries, k).indices[:, 0])
    return r, time.perf_counter() - start


def authors_way(directory: Path, queries: np.ndarray, k: int, batch: int) -> tuple[np.ndarray, float]:
    """Retrieved top-1 embeddings r and seconds when each batch re-reads index + vectors from disk
    and searches its queries one at a time."""
    r = []
    start = time.perf_counter()
    for first in range(0, len(queries), batch):
        index = faiss.read_index(str(directory / "index.faiss"))
        vectors = np.load(directory / "vectors.npy")
        for query in queries[first:first + batch]:
            _, rows = index.search(query.reshape(1, -1), k)
            r.append(vectors[rows[0, 0]])
    return np.array(r), time.perf_counter() - start


def config_for(kind: str, args: argparse.Namespace) -> IndexConfig:
    """The index measured for ``kind`` (IVF: nlist = sqrt(N) via nlist 0)."""
    if kind == "hnsw":
        return IndexConfig("hnsw", M=args.hnsw_m, ef_construction=args.hnsw_efc, ef_search=args.hnsw_efs)
    if kind == "ivf":
        return IndexConfig("ivf", nlist=0, nprobe=args.nprobe)
    return IndexConfig(kind)


def bench_one(vectors: np.ndarray, queries: np.ndarray, kind: str, args: argparse.Namespace) -> dict:
    """Build, save and time both paths for one database size and index kind."""
    ids = [str(i) for i in range(len(vectors))]
    start = time.perf_counter()
    db = VectorDB.build(vectors, ids, config_for(kind, args))
    build_s = time.perf_counter() - start
    ours(db, queries[:10], args.k)  # warm-up (thread pool, caches)
    fast_r, fast_s = ours(db, queries, args.k)
    with tempfile.TemporaryDirectory(prefix="bench_retrieval_") as tmp:
        db.save(tmp)
        slow_queries = queries[:args.slow_queries]
        slow_r, slow_s = authors_way(Path(tmp), slow_queries, args.k, args.batch)
    fast_qps, slow_qps = len(queries) / fast_s, len(slow_queries) / slow_s
    return {"N": len(vectors), "index": db.config.label, "build_s": build_s,
            "ours_q": len(queries), "ours_qps": fast_qps, "auth_q": len(slow_queries),
            "auth_qps": slow_qps, "speedup": fast_qps / slow_qps,
            "same_r": float(np.mean((fast_r[:len(slow_r)] == slow_r).all(axis=1)))}


def print_row(row: dict) -> None:
    print(f"{row['N']:>8,} {row['index']:<26} {row['build_s']:>8.1f} {row['ours_q']:>7} {row['ours_qps']:>12,.0f} "
          f"{row['auth_q']:>7} {row['auth_qps']:>12,.1f} {row['speedup']:>9,.0f}x {row['same_r']:>7.2f}", flush=True)


def main() -> None:
    """Parse flags, run every (size, kind) and print one table row each as it finishes."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="5000,50000,500000", help="database sizes, comma-separated")
    parser.add_argument("--kinds", default="flat,hnsw", help="index kinds: flat, ivf, hnsw")
    parser.add_argument("--queries", type=int, default=1000, help="queries for our batched search")
    parser.add_argument("--slow-queries", type=int, default=32, help="queries for the authors' way")
    parser.add_argument("--batch", type=int, default=16, help="authors' way: queries per disk re-read")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--k", type=int, default=1, help="top-K (generation uses the top-1 melody)")
    parser.add_argument("--hnsw-m", type=int, default=16)
    parser.add_argument("--hnsw-efc", type=int, default=40, help="efConstruction (build time grows with it)")
    parser.add_argument("--hnsw-efs", type=int, default=16)
    parser.add_argument("--nprobe", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    kinds = [k.strip() for k in args.kinds.split(",")]
    if args.slow_queries > args.queries:
        parser.error("--slow-queries must not exceed --queries (both paths share the queries)")
    rng = np.random.default_rng(args.seed)
    queries = random_unit(args.queries, args.dim, rng)
    print(f"d={args.dim}, k={args.k}, faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads, "
          f"authors' way re-reads the index every {args.batch} queries; all rates measured, none extrapolated;\n"
          "same_r = share of the authors'-way queries for which both paths retrieve the same melody embedding r")
    print(f"{'N':>8} {'index':<26} {'build_s':>8} {'ours_q':>7} {'ours_q/s':>12} "
          f"{'auth_q':>7} {'authors_q/s':>12} {'speed-up':>10} {'same_r':>7}")
    for n in sizes:
        vectors = random_unit(n, args.dim, rng)
        for kind in kinds:
            print_row(bench_one(vectors, queries, kind, args))
        del vectors


if __name__ == "__main__":
    main()
