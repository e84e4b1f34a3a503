"""Write tables (Markdown + CSV) and figures (PNG) under ``results/<profile>/``."""
from __future__ import annotations

from pathlib import Path

import pandas as pd


def save_table(df: pd.DataFrame, results_dir: str | Path, name: str, note: str = "", floatfmt: str = ".4g") -> Path:
    """Write ``tables/<name>.csv`` and ``tables/<name>.md`` (with an optional note under the table)."""
    out = Path(results_dir) / "tables"
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / f"{name}.csv", index=False)
    md = df.to_markdown(index=False, floatfmt=floatfmt)
    (out / f"{name}.md").write_text(md + ("\n\n" + note.strip() if note else "") + "\n")
    return out / f"{name}.md"


def save_figure(fig, results_dir: str | Path, name: str, dpi: int = 110) -> Path:
    """Write ``figures/<name>.png``."""
    out = Path(results_dir) / "figures"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path
