"""The paper's tables and claims, computed end to end (notebook 08)."""
from .claims import claims
from .isr_quality import isr_fad_correlation, isr_vs_quality, rank_correlation
from .paper import PAPER_ISR, PAPER_TABLE1, PAPER_TABLE2, paper_comparison, paper_table1
from .table1 import CEILING, ResultsConfig, eval_items, score_clips, summarize, table1_runs
from .table2 import PAPER_DATA, PAPER_HARDWARE, TOWER_NAMES, melody_effect, table2, table2_long, variant_label

__all__ = [
    "CEILING",
    "PAPER_DATA",
    "PAPER_HARDWARE",
    "PAPER_ISR",
    "PAPER_TABLE1",
    "PAPER_TABLE2",
    "ResultsConfig",
    "TOWER_NAMES",
    "claims",
    "eval_items",
    "isr_fad_correlation",
    "isr_vs_quality",
    "melody_effect",
    "paper_comparison",
    "paper_table1",
    "rank_correlation",
    "score_clips",
    "summarize",
    "table1_runs",
    "table2",
    "table2_long",
    "variant_label",
]
