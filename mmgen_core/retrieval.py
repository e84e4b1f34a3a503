"""Melody vector database: a faiss index over L2-normalised melody embeddings (DESIGN §2.3).

Generation embeds the text (or audio) prompt, searches this database and conditions on the
top-1 melody embedding r. Index kinds: exact ``flat``, ``ivf`` (k-means coarse clusters, then an
exact scan of the ``nprobe`` nearest clusters: the paper's hierarchical search) and ``hnsw``
(graph search). Scores are inner products of unit vectors, i.e. cosine similarities.

The official code re-reads the index and the vectors from disk for every batch and searches one
query at a time in a Python loop; here the database is built once, kept in memory and searched
batched (``benchmarks/bench_retrieval.py`` measures the difference).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import faiss
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

KINDS = ("flat", "ivf", "hnsw")
SELECT_BY = ("isr", "isr_per_item")
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

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise RetrievalError(f"index kind {self.kind!r} unknown; choose one of {KINDS}")
        for name in ("nprobe", "M", "ef_construction", "ef_search"):
            if int(getattr(self, name)) < 1:
                raise RetrievalError(f"{name} must be >= 1, not {getattr(self, name)}")
        if self.nlist < 0:
            raise RetrievalError(f"nlist must be >= 0 (0 = sqrt(N)), not {self.nlist}")

    def params(self) -> dict[str, int]:
        """The parameters that matter for this kind (for tables and for rebuilding the config)."""
        if self.kind == "ivf":
            return {"nlist": self.nlist, "nprobe": self.nprobe}
        if self.kind == "hnsw":
            return {"M": self.M, "ef_construction": self.ef_construction, "ef_search": self.ef_search}
        return {}

    @property
    def label(self) -> str:
        """A short name for plots and tables, e.g. ``HNSW M32 efC2048 efS128``."""
        if self.kind == "ivf":
            return f"IVF nlist{self.nlist} nprobe{self.nprobe}"
        if self.kind == "hnsw":
            return f"HNSW M{self.M} efC{self.ef_construction} efS{self.ef_search}"
        return "Flat"

    def build_key(self) -> tuple:
        """What fixes the built index: configs equal here share one build."""
        return (self.kind, self.nlist, self.M, self.ef_construction) if self.kind != "flat" else ("flat",)


@dataclass
class RetrievalConfig:
    """The profile's ``retrieval`` section: K, the index to use (or ``auto``) and the grid to try."""

    k: int = 1                           # top-K for ISR and recall (generation always uses top-1)
    index: str | dict[str, Any] = "auto"  # "auto" = highest-ISR config of the grid, or IndexConfig fields
    grid: str | list[dict[str, Any]] = "default"  # "default" = isr.default_grid(N), or IndexConfig fields
    select_by: str = "isr"               # isr (paper eq. 8) | isr_per_item (the authors' script)

    def __post_init__(self) -> None:
        if self.k < 1:
            raise RetrievalError(f"retrieval.k must be >= 1, not {self.k}")
        if self.select_by not in SELECT_BY:
            raise RetrievalError(f"retrieval.select_by must be one of {SELECT_BY}, not {self.select_by!r}")
        if isinstance(self.index, str) and self.index != "auto":
            raise RetrievalError(f"retrieval.index must be 'auto' or a mapping of IndexConfig fields, not {self.index!r}")
        if isinstance(self.grid, str) and self.grid != "default":
            raise RetrievalError(f"retrieval.grid must be 'default' or a list of IndexConfig fields, not {self.grid!r}")
        self.fixed_index()
        for fields in [] if isinstance(self.grid, str) else self.grid:
            IndexConfig(**fields)

    def fixed_index(self) -> IndexConfig | None:
        """The configured index, or None when it is chosen from the grid (``auto``)."""
        return None if isinstance(self.index, str) else IndexConfig(**self.index)


@dataclass
class SearchResult:
    """Top-K of a batch of queries: scores (Q,K) cosine, indices (Q,K) rows, ids (Q lists of ≤K)."""

    scores: np.ndarray
    indices: np.ndarray
    ids: list[list[str]]


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
    index = faiss.IndexHNSWFlat(d, config.M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = config.ef_construction
    return index


def _to_gpu(index: faiss.Index, kind: str) -> tuple[faiss.Index, bool]:
    """Move Flat/IVF indexes to all visible GPUs when faiss-gpu sees one (faiss HNSW is CPU-only)."""
    if kind == "hnsw" or faiss.get_num_gpus() == 0:
        return index, False
    return faiss.index_cpu_to_all_gpus(index), True


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temp file in the same folder, then rename, so readers never see half a file."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class MelodyDB:
    """Melody embeddings, their ids (and optionally token strings) behind one in-memory faiss index."""

    def __init__(self, index: faiss.Index, vectors: np.ndarray, ids: list[str], config: IndexConfig,
                 tokens: list[str] | None = None, on_gpu: bool = False):
        self.index, self.vectors, self.ids, self.config = index, vectors, ids, config
        self.tokens, self.on_gpu = tokens, on_gpu
        self._apply_search_params()

    @classmethod
    def build(cls, vectors: np.ndarray, ids: Sequence[str], config: IndexConfig = IndexConfig(),
              tokens: Sequence[str] | None = None) -> "MelodyDB":
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
        if config.kind == "ivf":
            config = dataclasses.replace(config, nlist=config.nlist or max(1, round(math.sqrt(n))))
            if config.nlist > n:
                raise RetrievalError(f"IVF nlist={config.nlist} > {n} vectors: k-means cannot make more "
                                     "clusters than points; lower nlist (0 = sqrt(N)) or use flat")
        index = _new_index(config, d)
        if config.kind == "ivf":
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
        if self.config.kind == "ivf":
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
            raise RetrievalError("this database was built without tokens; pass tokens= to MelodyDB.build")
        rows = self._rows(indices)
        if rows.ndim == 0:
            return self.tokens[int(rows)]
        return [self.tokens_of(r) for r in rows]

    def with_tokens(self, tokens: Sequence[str]) -> "MelodyDB":
        """The same index and vectors with other token strings (e.g. exact score melodies for the roll)."""
        if len(tokens) != len(self):
            raise RetrievalError(f"{len(self)} items but {len(tokens)} token strings; give one per item")
        return MelodyDB(self.index, self.vectors, self.ids, self.config, list(tokens), self.on_gpu)

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
        _atomic_write(path / "index.faiss", lambda p: faiss.write_index(self.cpu_index(), str(p)))

        def write_vectors(p: Path) -> None:
            with open(p, "wb") as f:
                np.save(f, self.vectors)

        _atomic_write(path / "vectors.npy", write_vectors)
        _atomic_write(path / "meta.json", lambda p: p.write_text(json.dumps(meta)))  # last: marks completion
        return path

    @classmethod
    def load(cls, directory: str | Path) -> "MelodyDB":
        """Read a database written by :meth:`save` (moved to GPU when faiss-gpu sees one)."""
        path = Path(directory)
        missing = [f for f in FILES if not (path / f).exists()]
        if missing:
            raise RetrievalError(f"{path}: no melody database here (missing {missing}); "
                                 "build one with MelodyDB.build(...).save(dir)")
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


def cluster_assignments(db: MelodyDB) -> np.ndarray:
    """Coarse IVF cluster of every item (from the index's quantizer), to see what clusters group."""
    if db.config.kind != "ivf":
        raise RetrievalError(f"cluster assignments come from an IVF index's coarse quantizer; this "
                             f"database is {db.config.kind!r}: build one with IndexConfig(kind='ivf')")
    quantizer = faiss.extract_index_ivf(db.cpu_index()).quantizer
    _, labels = quantizer.search(db.vectors, 1)
    return labels[:, 0]


def describe_clusters(assignments: np.ndarray, metadata: Sequence[dict[str, Any]],
                      keys: Sequence[str]) -> pd.DataFrame:
    """Per cluster: size, and for each metadata key its most common value and that value's share."""
    assignments = np.asarray(assignments)
    if len(assignments) != len(metadata):
        raise RetrievalError(f"{len(assignments)} assignments but {len(metadata)} metadata rows")
    rows = []
    for cluster in np.unique(assignments):
        members = [metadata[i] for i in np.flatnonzero(assignments == cluster)]
        row: dict[str, Any] = {"cluster": int(cluster), "size": len(members)}
        for key in keys:
            counts = Counter(m.get(key) for m in members if m.get(key) is not None)
            value, count = counts.most_common(1)[0] if counts else (None, 0)
            row[key], row[f"{key}_share"] = value, count / len(members)
        rows.append(row)
    columns = ["cluster", "size"] + [c for key in keys for c in (key, f"{key}_share")]
    df = pd.DataFrame(rows, columns=columns)
    return df.sort_values(["size", "cluster"], ascending=[False, True], ignore_index=True)


# ---------------------------------------------------------------- the stage generation uses

GRID_FILE = "grid.csv"
STAGE_FILE = "stage.json"
ATTRIBUTE_KEYS = ("instrument", "style", "key")


@dataclass
class DatabaseStage:
    """The profile's melody database: the index in memory, its config, the grid that chose it, its folder."""

    db: MelodyDB
    config: IndexConfig
    grid: pd.DataFrame | None  # the ISR grid on train melody vs audio (None when the profile fixes the index)
    folder: Path
    selected_by: str = "isr"   # the grid column that chose the index, or "profile" (a fixed index)
    reused: bool = False       # loaded from ``folder`` rather than built now


def embeddings_fingerprint(ids: Sequence[str], *arrays: np.ndarray) -> str:
    """A short hash of ids and vectors: a retrained aligner (same folder, new weights) rebuilds the database."""
    import hashlib

    h = hashlib.sha1("\n".join(map(str, ids)).encode())
    for a in arrays:
        h.update(np.ascontiguousarray(a, dtype=np.float32).tobytes())
    return h.hexdigest()[:12]


def save_grid(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a grid table as CSV (``params`` as JSON), atomically."""
    path = Path(path)
    out = df.assign(params=df["params"].map(lambda p: json.dumps(p, sort_keys=True)))
    _atomic_write(path, lambda p: out.to_csv(p, index=False))
    return path


def load_grid(path: str | Path) -> pd.DataFrame:
    """Read a grid table written by :func:`save_grid` (``params`` back to dicts for ``choose_config``)."""
    df = pd.read_csv(path)
    return df.assign(params=df["params"].map(json.loads))


def _train_tokens(manifest: Any, ids: Sequence[str]) -> list[str]:
    """The melody token text of each database item (the text its melody embedding was computed from)."""
    by_id = {it.id: it for it in manifest.items("train")}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise RetrievalError(f"{len(missing)} embedded train ids are not in the manifest (first: {missing[0]!r}); "
                             "the alignment artifact was made from other data: re-run notebook 03")
    tokens = [by_id[i].melody or by_id[i].melody_gt or "" for i in ids]
    empty = [i for i, t in zip(ids, tokens) if not t]
    if empty:
        raise RetrievalError(f"{len(empty)} train items have no melody tokens (first: {empty[0]!r}); "
                             "rebuild the dataset so that every clip has extracted melody tokens")
    return tokens


def load_or_build_database(profile: Any, run: Any = None, manifest: Any = None,
                           progress: bool = True) -> DatabaseStage:
    """The profile's melody database (DESIGN §2.3), reused from its artifact folder when unchanged.

    Built from the train-split melody embeddings of the tri-modal aligner (``run``, default
    ``load_or_train_alignment(profile)``) with each item's melody token text. With
    ``retrieval.index: auto`` the profile's grid runs on train melody vs audio embeddings and the
    index with the highest ISR (``retrieval.select_by``; ties: lower latency) is built, as the paper
    chooses; otherwise the configured index is built. The folder (keyed by the retrieval config, the
    aligner's folder and the embeddings) holds the index files, ``grid.csv`` and ``stage.json``.
    """
    from .isr import choose_config, grid_from_config, run_grid

    cfg: RetrievalConfig = profile.section("retrieval", RetrievalConfig)
    if run is None:
        from .alignment import load_or_train_alignment

        run = load_or_train_alignment(profile, manifest=manifest, progress=progress)
    emb = run.embeddings("train")
    if emb.melody is None:
        raise RetrievalError(f"{run.folder}: this aligner has no melody tower "
                             f"(variant {getattr(run, 'variant', '?')!r}); "
                             "the melody database needs the tri-modal one: load_or_train_alignment(profile)")
    folder = profile.stage_dir("retrieval", cfg, Path(run.folder).name,
                               embeddings_fingerprint(emb.ids, emb.melody, emb.audio))
    if (folder / "meta.json").exists():
        db = MelodyDB.load(folder)
        grid = load_grid(folder / GRID_FILE) if (folder / GRID_FILE).exists() else None
        info = json.loads((folder / STAGE_FILE).read_text()) if (folder / STAGE_FILE).exists() else {}
        return DatabaseStage(db, db.config, grid, folder, info.get("selected_by", cfg.select_by), reused=True)
    if manifest is None:
        from .dataset import get_dataset

        manifest = get_dataset(profile, progress=progress)
    tokens = _train_tokens(manifest, emb.ids)
    folder.mkdir(parents=True, exist_ok=True)
    grid, chosen, selected_by = None, cfg.fixed_index(), "profile"
    if chosen is None:
        grid = run_grid(emb.melody, emb.audio, emb.ids, grid_from_config(cfg, len(emb.ids)), cfg.k)
        chosen, selected_by = choose_config(grid, cfg.select_by), cfg.select_by
        save_grid(grid, folder / GRID_FILE)
    db = MelodyDB.build(emb.melody, emb.ids, chosen, tokens=tokens)
    info = {"selected_by": selected_by, "label": db.config.label, "k": cfg.k, "n_items": len(db),
            "alignment": str(run.folder)}
    _atomic_write(folder / STAGE_FILE, lambda p: p.write_text(json.dumps(info, indent=1)))
    db.save(folder)  # meta.json is written last: it marks the stage complete
    return DatabaseStage(db, db.config, grid, folder, selected_by)


@dataclass
class Retrieved:
    """Top-K melodies per query: ids, rows, cosine scores, embeddings r (Q, K, d) and token texts."""

    ids: list[list[str]]
    indices: np.ndarray
    scores: np.ndarray
    embeddings: np.ndarray
    tokens: list[list[str]] | None

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
        return self.embeddings[:, 0]

    @property
    def top_tokens(self) -> list[str]:
        if self.tokens is None:
            raise RetrievalError("this database was built without tokens; pass tokens= to MelodyDB.build")
        return [row[0] for row in self.tokens]

    def records(self) -> list[dict[str, Any]]:
        """One dict per query: ``ids``, ``scores``, ``embeddings`` and ``tokens`` of its top-K."""
        return [{"ids": self.ids[q], "scores": self.scores[q], "embeddings": self.embeddings[q],
                 "tokens": None if self.tokens is None else self.tokens[q]} for q in range(len(self))]


def retrieve(stage_or_db: DatabaseStage | MelodyDB, query_vectors: Any, k: int = 1) -> Retrieved:
    """Top-``k`` melodies for each query vector (text or audio embedding; one vector or (Q, d)).

    One batched search. A hit an approximate index could not fill (IVF scanning too few clusters
    returns -1) is filled from an exact scan of that query, so every query gets ``k`` melodies.
    """
    db = stage_or_db.db if isinstance(stage_or_db, DatabaseStage) else stage_or_db
    q = np.asarray(query_vectors, dtype=np.float32)
    q = q[None] if q.ndim == 1 else q
    result = db.search(q, k)
    indices, scores = result.indices.copy(), result.scores.copy()
    holes = np.flatnonzero((indices < 0).any(axis=1))
    if len(holes):
        qn = _unit_rows(q[holes], "queries", db.dim)
        exact = qn @ db.vectors.T
        top = np.argsort(-exact, axis=1, kind="stable")[:, :k]
        indices[holes], scores[holes] = top, np.take_along_axis(exact, top, 1)
    ids = [[db.ids[j] for j in row] for row in indices]
    tokens = None if db.tokens is None else [[db.tokens[j] for j in row] for row in indices]
    return Retrieved(ids, indices, scores, db.vectors[indices], tokens)


# ---------------------------------------------------------------- what retrieval finds: metadata

def item_attributes(item: Any, keys: Sequence[str] = ATTRIBUTE_KEYS) -> dict[str, Any]:
    """Metadata of a dataset item for comparisons: its ``meta`` fields, plus ``key`` = "tonic mode"."""
    meta = dict(getattr(item, "meta", None) or {})
    if "key" not in meta and meta.get("tonic"):
        meta["key"] = f"{meta['tonic']} {meta.get('mode', '')}".strip()
    return {k: (meta.get(k) if meta.get(k) not in ("", None) else None) for k in keys}


def cluster_purity(assignments: np.ndarray, metadata: Sequence[dict[str, Any]], keys: Sequence[str],
                   shuffles: int = 20, seed: int = 0) -> pd.DataFrame:
    """Per key: the share of items agreeing with their cluster's majority value (size-weighted purity),
    against the same clusters with the items shuffled (what purity chance alone gives)."""
    assignments = np.asarray(assignments)
    if len(assignments) != len(metadata):
        raise RetrievalError(f"{len(assignments)} assignments but {len(metadata)} metadata rows")
    rng = np.random.default_rng(seed)

    def purity(labels: np.ndarray, values: list[Any]) -> float:
        agree = 0
        for cluster in np.unique(labels):
            counts = Counter(values[i] for i in np.flatnonzero(labels == cluster) if values[i] is not None)
            agree += counts.most_common(1)[0][1] if counts else 0
        known = sum(v is not None for v in values)
        return agree / known if known else float("nan")

    rows = []
    for key in keys:
        values = [m.get(key) for m in metadata]
        shuffled = [purity(rng.permutation(assignments), values) for _ in range(shuffles)]
        rows.append({"key": key, "n_values": len({v for v in values if v is not None}),
                     "purity": purity(assignments, values), "shuffled_purity": float(np.mean(shuffled))})
    return pd.DataFrame(rows)


def match_table(query_items: Sequence[Any], retrieved: Retrieved, pool: dict[str, Any],
                keys: Sequence[str] = ATTRIBUTE_KEYS) -> pd.DataFrame:
    """Per query: its caption, the top-1 retrieved item's caption and score, and for each key whether
    the retrieved item shares the query item's value (None when either lacks it)."""
    if len(query_items) != len(retrieved):
        raise RetrievalError(f"{len(query_items)} query items but {len(retrieved)} retrieval results")
    rows = []
    for item, rid, score in zip(query_items, retrieved.top_ids, retrieved.top_scores):
        hit = pool[rid]
        qa, ra = item_attributes(item, keys), item_attributes(hit, keys)
        row = {"query_id": item.id, "query_caption": item.captions[0], "retrieved_id": rid,
               "retrieved_caption": hit.captions[0], "score": float(score)}
        for key in keys:
            row[f"same_{key}"] = None if qa[key] is None or ra[key] is None else qa[key] == ra[key]
        rows.append(row)
    return pd.DataFrame(rows)


def chance_match(query_items: Sequence[Any], pool_items: Sequence[Any],
                 keys: Sequence[str] = ATTRIBUTE_KEYS) -> dict[str, float]:
    """Per key: how often a pool item drawn at random shares the query item's value (the baseline
    for ``match_table``'s ``same_*`` rates)."""
    pool = [item_attributes(p, keys) for p in pool_items]
    out = {}
    for key in keys:
        counts = Counter(p[key] for p in pool if p[key] is not None)
        total = sum(counts.values())
        rates = [counts[v] / total for v in (item_attributes(q, keys)[key] for q in query_items)
                 if v is not None and total]
        out[key] = float(np.mean(rates)) if rates else float("nan")
    return out
