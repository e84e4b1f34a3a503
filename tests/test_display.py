"""Tables as the notebooks show them: rounded, ``x [a, b]``, "—" for missing values, the paper's rows beside ours."""
from __future__ import annotations

import numpy as np
import pandas as pd

from mmgen_core.reporting.display import NA, fmt, interval, interval_table, side_by_side, tidy, with_intervals


def test_numbers_keep_three_significant_digits():
    assert fmt(33.98750266) == "34.0" and fmt(0.25593876) == "0.256" and fmt(0.019) == "0.0190"
    assert fmt(1234.5) == "1234" and fmt(7) == "7" and fmt(np.int64(480)) == "480"
    assert fmt(0.26, signed=True) == "+0.260" and fmt(-2.9, signed=True) == "-2.90"
    assert fmt(np.nan) == NA == "—" and fmt(None) == NA and fmt("n/a") == "n/a" and fmt(True) == "True"


def test_interval_is_the_estimate_and_its_bounds_to_one_number_of_decimals():
    assert interval(33.727, 26.072, 43.444) == "33.7 [26.1, 43.4]"
    assert interval(0.2559, 0.1740, 0.3529) == "0.256 [0.174, 0.353]"
    # the decimals follow the largest of the three: a small estimate keeps its wide interval readable
    assert interval(-0.0175, -0.7859, 0.7904, signed=True) == "-0.018 [-0.786, +0.790]"
    assert interval(0.5, np.nan, np.nan) == "0.500"  # no interval: the estimate alone
    assert interval(np.nan, 0.1, 0.2) == NA


def test_with_intervals_merges_wide_metric_columns_in_place():
    df = pd.DataFrame({"config": ["Flat", "IVF"], "isr": [0.45, 0.1625],
                       "fad_inf": [40.035, 38.94], "fad_inf_low": [28.51, np.nan], "fad_inf_high": [57.13, np.nan],
                       "kid": [0.3027, np.nan], "kid_low": [0.1586, np.nan], "kid_high": [0.5597, np.nan]})
    out = with_intervals(df)
    assert list(out.columns) == ["config", "isr", "fad_inf", "kid"]
    assert out["fad_inf"].tolist() == ["40.0 [28.5, 57.1]", "38.9"]
    assert out["kid"].tolist() == ["0.303 [0.159, 0.560]", NA]
    assert out["isr"].tolist() == ["0.450", "0.163"]  # the other numbers rounded too (rest=True)
    assert with_intervals(df, rest=False)["isr"].tolist() == [0.45, 0.1625]
    assert df.shape == (2, 8) and df["fad_inf"].dtype == float  # the input is left alone (the saved CSV is not touched)


def test_with_intervals_on_a_long_table_of_effects():
    effects = pd.DataFrame({"effect": ["a − b", "c − d"], "estimate": [0.2605, -0.0306], "low": [-2.929, -0.120],
                            "high": [3.2126, 0.0579], "n": ["60 clips", "60 clips"], "verdict": ["inconclusive"] * 2})
    out = with_intervals(effects, signed=True)
    assert list(out.columns) == ["effect", "estimate", "n", "verdict"]
    assert out["estimate"].tolist() == ["+0.26 [-2.93, +3.21]", "-0.031 [-0.120, +0.058]"]


def test_interval_table_pivots_long_intervals_with_a_dash_where_nothing_was_measured():
    long = pd.DataFrame({"system": ["text", "text", "mmgen", "mmgen"], "metric": ["fad_inf", "chroma_cond"] * 2,
                         "estimate": [33.99, np.nan, 33.73, 0.147], "low": [26.18, np.nan, 26.07, 0.132],
                         "high": [44.79, np.nan, 43.44, 0.165], "n": ["60"] * 4})
    wide = interval_table(long)
    assert list(wide.columns) == ["system", "fad_inf", "chroma_cond"]
    assert wide["system"].tolist() == ["text", "mmgen"]  # order of appearance, not alphabetical
    assert wide.loc[0, "fad_inf"] == "34.0 [26.2, 44.8]" and wide.loc[0, "chroma_cond"] == NA
    assert wide.loc[1, "chroma_cond"] == "0.147 [0.132, 0.165]"
    assert not wide.isna().any().any()
    saved = pd.DataFrame({"system": ["mmgen", "text"], "n": ["60 clips", "60 clips"],
                          "fad_inf": ["33.727 [26.072, 43.444]", "33.988 [26.180, 44.787]"], "chroma_cond": ["x", "n/a"],
                          "fad": ["35.763 ± 1.329", "35.803 ± 1.728"]})
    shown = interval_table(long, base=saved)  # the saved table's layout, its interval cells rounded
    assert list(shown.columns) == list(saved.columns) and shown["system"].tolist() == ["mmgen", "text"]
    assert shown["fad_inf"].tolist() == ["33.7 [26.1, 43.4]", "34.0 [26.2, 44.8]"]
    assert shown["chroma_cond"].tolist() == ["0.147 [0.132, 0.165]", NA] and shown.loc[1, "fad"] == "35.803 ± 1.728"


def test_tidy_rounds_per_column_and_leaves_text_and_flags():
    df = pd.DataFrame({"label": ["Flat", None], "isr_per_item": [1.0, 0.8], "clips": [480, 120],
                       "chosen": [True, False], "ms": [0.0068, np.nan]})
    out = tidy(df)
    assert out["isr_per_item"].tolist() == ["1.000", "0.800"]  # one number of decimals per column
    assert out["clips"].tolist() == ["480", "120"] and out["chosen"].tolist() == [True, False]
    assert out["label"].tolist() == ["Flat", NA] and out["ms"].tolist() == ["0.00680", NA]
    # a transposed table mixes text and numbers in one column: the numbers are rounded, the text kept
    mixed = tidy(pd.DataFrame({"ours": ["CPU", 0.31666, np.nan]}, dtype=object))
    assert mixed["ours"].tolist() == ["CPU", "0.317", NA]


def test_side_by_side_puts_the_papers_rows_under_ours_without_nan():
    ours = pd.DataFrame({"system": ["MMGen"], "n": ["60 clips"], "fad": ["35.803 ± 1.728"],
                         "kl": ["1.083 [0.903, 1.262]"]})
    paper = pd.DataFrame({"system": ["MMGen", "Mustango"], "data": ["MusicBench", "MusicCaps"], "fad": [1.36, np.nan],
                          "kl": [1.08, None], "is": [2.55, np.nan]})
    out = side_by_side(ours, paper, ours_label="ours (tiny)", paper_label="paper")
    assert list(out.columns) == ["source", "system", "fad", "kl", "data", "is"]
    assert out["source"].tolist() == ["ours (tiny)", "paper", "paper"]
    assert out.loc[0, "fad"] == "35.803 ± 1.728" and out.loc[0, "data"] == NA and out.loc[0, "is"] == NA
    assert out.loc[1, "fad"] == "1.36" and out.loc[2, "fad"] == NA and out.loc[1, "is"] == "2.55"
    assert not out.isna().any().any()
    picked = side_by_side(ours, paper, columns=["system", "data", "fad"])
    assert list(picked.columns) == ["source", "system", "data", "fad"]
