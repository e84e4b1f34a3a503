"""Melody vector database: a faiss index over L2-normalised melody embeddings (docs/method.md §2.3).

Generation embeds the text (or audio) prompt, searches this database and conditions on the
top-1 melody embedding r. Index kinds: exact ``flat``, ``ivf`` (k-means coarse clusters, then an
exact scan of the ``nprobe`` nearest clusters: the paper's hierarchical search), ``hnsw`` (graph
search), and the compressed ``pq`` (product quantisation: ``pq_m`` codes of ``pq_bits`` bits per
vector, scanned exhaustively) and ``ivfpq`` (IVF over PQ-coded residuals). Scores are inner
products of unit vectors, i.e. cosine similarities (approximate for the PQ kinds).

The official code re-reads the index and the vectors from disk for every batch and searches one
query at a time in a Python loop; here the database is built once, kept in memory and searched
batched (``benchmarks/bench_retrieval.py`` measures the difference)."""
from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import faiss
import numpy as np
from tqdm.auto import tqdm

from mmgen_core.artifacts import atomic_write

KINDS = ("flat", "ivf", "hnsw", "pq", "ivfpq")
PQ_KINDS = ("pq", "ivfpq")
CPU_ONLY = ("hnsw", "pq")  # faiss-gpu has no HNSW and no flat PQ index
ADD_CHUNK = 50_000  # vectors per faiss add call, so a long build shows progress
FILES = ("index.faiss", "vectors.npy", "meta.json")
FORMAT = 1


class RetrievalError(ValueError):
    """A database or query that cannot be searched (bad shape, empty, non-finite, bad K)."""


@dataclass(frozen=True)
class IndexConfig:
    """Index kind and parameters; ``nprobe`` and ``ef_search`` are search-time only."""
    kind: str = "flat"
    nlist: int = 0             # ivf: number of coarse clusters; 0 = round(sqrt(N))
    nprobe: int = 1            # ivf: clusters scanned per query
    M: int = 32                # hnsw: graph degree
    ef_construction: int = 40  # hnsw: candidate list while building
    ef_search: int = 16        # hnsw: candidate list while searching
    pq_m: int = 8              # pq/ivfpq: sub-quantisers (codes) per vector; must divide the dimension
    pq_bits: int = 8           # pq/ivfpq: bits per code (2**pq_bits centroids: needs as many training vectors)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise RetrievalError(f"index kind {self.kind!r} unknown; choose one of {KINDS}")
        for name in ("nprobe", "M", "ef_construction", "ef_search", "pq_m"):
            if int(getattr(self, name)) < 1:
                raise RetrievalError(f"{name} must be >= 1, not {getattr(self, name)}")
        if self.nlist < 0:
            raise RetrievalError(f"nlist must be >= 0 (0 = sqrt(N)), not {self.nlist}")
        if not 1 <= self.pq_bits <= 16:
            raise RetrievalError(f"pq_bits must be in [1, 16], not {self.pq_bits}")

    def params(self) -> dict[str, int]:
        """The parameters that matter for this kind (for tables and for rebuilding the config)."""
        if self.kind == "ivf":
            return {"nlist": self.nlist, "nprobe": self.nprobe}
        if self.kind == "hnsw":
            return {"M": self.M, "ef_construction": self.ef_construction, "ef_search": self.ef_search}
        if self.kind == "pq":
            return {"pq_m": self.pq_m, "pq_bits": self.pq_bits}
        if self.kind == "ivfpq":
            return {"nlist": self.nlist, "nprobe": self.nprobe, "pq_m": self.pq_m, "pq_bits": self.pq_bits}
        return {}

    @property
    def label(self) -> str:
        """A short name for plots and tables, e.g. ``HNSW M32 efC2048 efS128`` or ``PQ 2×8b``."""
        if self.kind == "ivf":
            return f"IVF nlist{self.nlist} nprobe{self.nprobe}"
        if self.kind == "hnsw":
            return f"HNSW M{self.M} efC{self.ef_construction} efS{self.ef_search}"
        if self.kind == "pq":
            return f"PQ {self.pq_m}×{self.pq_bits}b"
        if self.kind == "ivfpq":
            return f"IVF-PQ nlist{self.nlist} nprobe{self.nprobe} {self.pq_m}×{self.pq_bits}b"
        return "Flat"

    def build_key(self) -> tuple:
        """What fixes the built index: configs equal here share one build."""
        if self.kind == "flat":
            return ("flat",)
        if self.kind in PQ_KINDS:
            return (self.kind, self.nlist, self.pq_m, self.pq_bits)
        return (self.kind, self.nlist, self.M, self.ef_construction)


@dataclass
class SearchResult:
    """Top-K of a batch of queries: cosine scores (Q, K), rows (Q, K), ids (Q lists of ≤ K) and, from
    :func:`~mmgen_core.retrieval.stage.retrieve`, the stored vectors r (Q, K, d) and token texts."""

    scores: np.ndarray
    indices: np.ndarray
    ids: list[list[str]]
    embeddings: np.ndarray | None = None
    tokens: list[list[str]] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def top_ids(self) -> list[str]:
        """The top-1 id of each query (the melody generation follows)."""
        return [row[0] for row in self.ids]

    @property
    def top_scores(self) -> np.ndarray:
        return self.scores[:, 0]

    @property
    def top_embeddings(self) -> np.ndarray:
        """(Q, d) top-1 melody embeddings r."""
        if self.embeddings is None:
            raise RetrievalError("this result carries no vectors; use retrieve(...) to get them")
        return self.embeddings[:, 0]

    @property
    def top_tokens(self) -> list[str]:
        if self.tokens is None:
            raise RetrievalError("this database was built without tokens; pass tokens= to VectorDB.build")
        return [row[0] for row in self.tokens]

    def records(self) -> list[dict[str, Any]]:
        """One dict per query: ``ids``, ``scores``, ``embeddings`` and ``tokens`` of its top-K."""
        return [{"ids": self.ids[q], "scores": self.scores[q],
                 "embeddings": None if self.embeddings is None else self.embeddings[q],
                 "tokens": None if self.tokens is None else self.tokens[q]} for q in range(len(self))]


def _unit_rows(x: Any, what: str, dim: int | None = None) -> np.ndarray:
    """A float32 C-contiguous copy of ``x`` (2-D) with unit-norm rows; rejects bad input clearly."""
    a = np.asarray(x, dtype=np.float32)
    if a.ndim != 2:
        raise RetrievalError(f"{what} must be a 2-D array (n, d), got shape {a.shape} (one vector v: pass v[None])")
    if dim is not None and a.shape[1] != dim:
        raise RetrievalError(f"{what} have dimension {a.shape[1]} but the database holds {dim}-d "
                             "vectors; embed them with the same model as the database")
    bad = ~np.isfinite(a).all(axis=1)
    if bad.any():
        raise RetrievalError(f"{what}: {int(bad.sum())} row(s) hold NaN/inf (first: row {int(np.argmax(bad))})")
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    if (norms == 0).any():
        raise RetrievalError(f"{what}: row {int(np.argmax(norms[:, 0] == 0))} is all zeros and has no direction")
    return np.ascontiguousarray(a / norms)


def _new_index(config: IndexConfig, d: int) -> faiss.Index:
    """An empty CPU index of the configured kind (inner-product metric)."""
    if config.kind == "flat":
        return faiss.IndexFlatIP(d)
    if config.kind == "ivf":
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, config.nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.min_points_per_centroid = 1  # small databases are fine; no faiss warning
        return index
    if config.kind == "pq":
        index = faiss.IndexPQ(d, config.pq_m, config.pq_bits, faiss.METRIC_INNER_PRODUCT)
        index.pq.cp.min_points_per_centroid = 1
        return index
    if config.kind == "ivfpq":
        index = faiss.IndexIVFPQ(faiss.IndexFlatIP(d), d, config.nlist, config.pq_m, config.pq_bits,
                                 faiss.METRIC_INNER_PRODUCT)
        index.cp.min_points_per_centroid = 1
        index.pq.cp.min_points_per_centroid = 1
        return index
    index = faiss.IndexHNSWFlat(d, config.M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = config.ef_construction
    return index


def _to_gpu(index: faiss.Index, kind: str) -> tuple[faiss.Index, bool]:
    """Move Flat/IVF(-PQ) indexes to all visible GPUs when faiss-gpu sees one (HNSW and flat PQ stay on the CPU)."""
    if kind in CPU_ONLY or faiss.get_num_gpus() == 0:
        return index, False
    return faiss.index_cpu_to_all_gpus(index), True


class VectorDB:
    """Melody embeddings, their ids (and optionally token strings) behind one in-memory faiss index."""
    def __init__(self, index: faiss.Index, vectors: np.ndarray, ids: list[str], config: IndexConfig,
                 tokens: list[str] | None = None, on_gpu: bool = False):
        self.index, self.vectors, self.ids, self.config = index, vectors, ids, config
        self.tokens, self.on_gpu = tokens, on_gpu
        self._apply_search_params()

    @classmethod
    def build(cls, vectors: np.ndarray, ids: Sequence[str], config: IndexConfig = IndexConfig(),
              tokens: Sequence[str] | None = None) -> "VectorDB":
        """Normalise ``vectors`` (N, d), train/fill the configured index and keep it in memory."""
        if np.asarray(vectors).size == 0:
            raise RetrievalError("empty database: give at least one melody embedding")
        x = _unit_rows(vectors, "database vectors")
        n, d = x.shape
        ids = [str(i) for i in ids]
        if len(ids) != n:
            raise RetrievalError(f"{n} vectors but {len(ids)} ids; give one id per vector")
        if len(set(ids)) != n:
            dup = next(i for i, c in Counter(ids).items() if c > 1)
            raise RetrievalError(f"ids must be unique; {dup!r} appears more than once")
        if tokens is not None and len(tokens) != n:
            raise RetrievalError(f"{n} vectors but {len(tokens)} token strings; give one per vector")
        if config.kind in ("ivf", "ivfpq"):
            config = dataclasses.replace(config, nlist=config.nlist or max(1, round(math.sqrt(n))))
            if config.nlist > n:
                raise RetrievalError(f"IVF nlist={config.nlist} > {n} vectors: k-means cannot make more "
                                     "clusters than points; lower nlist (0 = sqrt(N)) or use flat")
        if config.kind in PQ_KINDS:
            if d % config.pq_m:
                raise RetrievalError(f"{config.label}: pq_m={config.pq_m} does not divide the dimension {d}; "
                                     "choose a divisor of it")
            if n < 2 ** config.pq_bits:
                raise RetrievalError(f"{config.label}: {2 ** config.pq_bits} centroids per code need at least as "
                                     f"many training vectors, and the database holds {n}; lower pq_bits to "
                                     f"<= {int(math.log2(n)) if n > 1 else 0} or use flat")
        index = _new_index(config, d)
        if not index.is_trained:  # IVF and PQ kinds learn their clusters / codebooks from the vectors
            index.train(x)
        for start in tqdm(range(0, n, ADD_CHUNK), desc=f"build {config.label}", disable=n <= ADD_CHUNK):
            index.add(x[start:start + ADD_CHUNK])
        index, on_gpu = _to_gpu(index, config.kind)
        return cls(index, x, ids, config, None if tokens is None else list(tokens), on_gpu)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def _apply_search_params(self) -> None:
        """Push nprobe / efSearch from the config into the (CPU or GPU) index."""
        space = faiss.GpuParameterSpace() if self.on_gpu else faiss.ParameterSpace()
        if self.config.kind in ("ivf", "ivfpq"):
            space.set_index_parameter(self.index, "nprobe", min(self.config.nprobe, self.config.nlist))
        elif self.config.kind == "hnsw":
            space.set_index_parameter(self.index, "efSearch", self.config.ef_search)

    def set_search_params(self, nprobe: int | None = None, ef_search: int | None = None) -> None:
        """Change search-time parameters without rebuilding (for sweeps over nprobe / efSearch)."""
        changes = {k: v for k, v in (("nprobe", nprobe), ("ef_search", ef_search)) if v is not None}
        self.config = dataclasses.replace(self.config, **changes)
        self._apply_search_params()

    def search(self, queries: np.ndarray, k: int = 1) -> SearchResult:
        """Top-``k`` items for each query row (normalised first), in one batched faiss call."""
        q = _unit_rows(queries, "queries", self.dim)
        if not 1 <= k <= len(self):
            raise RetrievalError(f"k={k} but the database holds {len(self)} items; use 1 <= k <= {len(self)}")
        scores, indices = self.index.search(q, k)
        ids = [[self.ids[j] for j in row if j >= 0] for row in indices]  # -1: IVF found fewer than k
        return SearchResult(scores, indices, ids)

    def _rows(self, indices: Any) -> np.ndarray:
        rows = np.asarray(indices, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= len(self)):
            raise RetrievalError(f"indices must lie in [0, {len(self)}); -1 marks a missing hit, drop it first")
        return rows

    def embeddings(self, indices: Any) -> np.ndarray:
        """Stored (unit-norm) vectors of rows ``indices``: the melody embedding r for generation."""
        return self.vectors[self._rows(indices)]

    def tokens_of(self, indices: Any) -> Any:
        """Melody token strings of rows ``indices`` (a str for one index, nested lists otherwise)."""
        if self.tokens is None:
            raise RetrievalError("this database was built without tokens; pass tokens= to VectorDB.build")
        rows = self._rows(indices)
        if rows.ndim == 0:
            return self.tokens[int(rows)]
        return [self.tokens_of(r) for r in rows]

    def with_tokens(self, tokens: Sequence[str]) -> "VectorDB":
        """The same index and vectors with other token strings (e.g. exact score melodies for the roll)."""
        if len(tokens) != len(self):
            raise RetrievalError(f"{len(self)} items but {len(tokens)} token strings; give one per item")
        return VectorDB(self.index, self.vectors, self.ids, self.config, list(tokens), self.on_gpu)

    def cpu_index(self) -> faiss.Index:
        """The index on the CPU (a copy when it lives on a GPU), for saving and inspecting."""
        return faiss.index_gpu_to_cpu(self.index) if self.on_gpu else self.index

    def index_bytes(self) -> int:
        """Size of the serialized index in bytes (the memory the index needs)."""
        return int(faiss.serialize_index(self.cpu_index()).nbytes)

    def save(self, directory: str | Path) -> Path:
        """Write index, vectors and ids/tokens/config to ``directory``, each file atomically."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        meta = {"format": FORMAT, "config": dataclasses.asdict(self.config), "ids": self.ids,
                "tokens": self.tokens}
        atomic_write(path / "index.faiss", lambda p: faiss.write_index(self.cpu_index(), str(p)))

        def write_vectors(p: Path) -> None:
            with open(p, "wb") as f:
                np.save(f, self.vectors)

        atomic_write(path / "vectors.npy", write_vectors)
        atomic_write(path / "meta.json", lambda p: p.write_text(json.dumps(meta)))  # last: marks completion
        return path

    @classmethod
    def load(cls, directory: str | Path) -> "VectorDB":
        """Read a database written by :meth:`save` (moved to GPU when faiss-gpu sees one)."""
        path = Path(directory)
        missing = [f for f in FILES if not (path / f).exists()]
        if missing:
            raise RetrievalError(f"{path}: no melody database here (missing {missing}); "
                                 "build one with VectorDB.build(...).save(dir)")
        meta = json.loads((path / "meta.json").read_text())
        if meta.get("format") != FORMAT:
            raise RetrievalError(f"{path}: database format {meta.get('format')} != {FORMAT}; rebuild it")
        index = faiss.read_index(str(path / "index.faiss"))
        vectors = np.load(path / "vectors.npy")
        config = IndexConfig(**meta["config"])
        if not index.ntotal == len(vectors) == len(meta["ids"]):
            raise RetrievalError(f"{path}: index ({index.ntotal}), vectors ({len(vectors)}) and ids "
                                 f"({len(meta['ids'])}) disagree; the folder is corrupt, rebuild it")
        index, on_gpu = _to_gpu(index, config.kind)
        return cls(index, vectors, meta["ids"], config, meta["tokens"], on_gpu)
