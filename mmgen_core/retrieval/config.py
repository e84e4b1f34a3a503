"""Profile section ``retrieval``: K, the index to use (or ``auto``) and the grid to try."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mmgen_core.retrieval.index import IndexConfig, RetrievalError

SELECT_BY = ("isr", "isr_per_item")


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
