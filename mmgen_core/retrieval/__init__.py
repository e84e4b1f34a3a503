"""The melody vector database, Intersection Rate and index choice (notebook 04)."""
from .analysis import ATTRIBUTE_KEYS, chance_match, cluster_assignments, cluster_purity, describe_clusters, item_attributes, match_table
from .config import RetrievalConfig, SELECT_BY
from .index import ADD_CHUNK, FILES, FORMAT, IndexConfig, KINDS, RetrievalError, SearchResult, VectorDB
from .isr import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_MS, IVF_NPROBES, choice_summary, choose_config, default_grid, grid_from_config, grid_table, intersection_rate, modality_isr, per_item_isr, recall_at_k, run_grid
from .stage import DatabaseStage, GRID_FILE, Retrieved, load_grid, load_or_build_database, retrieve, save_grid

__all__ = [
    "ADD_CHUNK",
    "ATTRIBUTE_KEYS",
    "DatabaseStage",
    "FILES",
    "FORMAT",
    "GRID_FILE",
    "HNSW_EF_CONSTRUCTION",
    "HNSW_EF_SEARCH",
    "HNSW_MS",
    "IVF_NPROBES",
    "IndexConfig",
    "KINDS",
    "RetrievalConfig",
    "RetrievalError",
    "Retrieved",
    "SELECT_BY",
    "SearchResult",
    "VectorDB",
    "chance_match",
    "choice_summary",
    "choose_config",
    "cluster_assignments",
    "cluster_purity",
    "default_grid",
    "describe_clusters",
    "grid_from_config",
    "grid_table",
    "intersection_rate",
    "item_attributes",
    "load_grid",
    "load_or_build_database",
    "match_table",
    "modality_isr",
    "per_item_isr",
    "recall_at_k",
    "retrieve",
    "run_grid",
    "save_grid",
]
