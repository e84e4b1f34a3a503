"""Reading the melody counterfactual's table (docs/method.md §2.9): one sentence per mode, and which explanation the
measurements support. Pure functions of the tables notebook 09 writes, shared by the notebook, the claims table and
the results summary."""
from __future__ import annotations

import pandas as pd

MODES = {"text only (control)": "text", "MMGen": "mmgen", "MMGen+roll": "mmgen+roll"}  # system → conditioning mode


def span(row: pd.Series, measure: str) -> str:
    """A move of a counterfactual table's row with its interval: ``+0.528 [+0.316, +0.741]``."""
    return f"{row[measure]:+.3f} [{row[f'{measure} low']:+.3f}, {row[f'{measure} high']:+.3f}]"


def move_sentences(table: pd.DataFrame) -> dict[str, str]:
    """One sentence per melody-following mode (the control left out) of a :meth:`CounterfactualRun.table`: for each
    swap, how far the output moves by each measure, its share of a perfect follower's move and its outcome."""
    out = {}
    for system in [s for s in MODES if MODES[s] != "text"]:
        rows = table[table["system"] == system]
        if rows.empty:
            continue
        out[system] = "; ".join(
            f"{r['swap']} change: pitch-class move {span(r, 'pcp_move')} ({r['pcp_move of follower']:.0%} of a "
            f"perfect follower's, {r['pcp_move outcome']}), chroma move {span(r, 'chroma_move')} "
            f"({r['chroma_move of follower']:.0%}, {r['chroma_move outcome']})" for _, r in rows.iterrows())
    return out


def reach_note(table: pd.DataFrame | None, mode: str) -> str:
    """What the counterfactual (its first caption set) says about whether ``mode``'s melody moves the music at all:
    the condition under which a quality difference between two retrieved melodies can come from the melody."""
    system = next(s for s, m in MODES.items() if m == mode)
    rows = None if table is None else table[(table["system"] == system) & (table["swap"] == "key")]
    if rows is None or rows.empty:
        return (f"the melody counterfactual has not run for {system} in this pass: whether its melody moves the music "
                "at all is not known here")
    r = rows.iloc[0]
    move = f"the key change moves its pitch classes {span(r, 'pcp_move')}, {r['pcp_move outcome']}"
    if r["pcp_move outcome"] == "reaches the music":
        return (f"the counterfactual finds that {system}'s melody reaches the music ({move}): a difference in quality "
                "between two retrieved melodies can come from the melody")
    if r["pcp_move outcome"] in ("no move", "moves away"):
        return (f"the counterfactual finds that {system}'s melody does not move the music toward it ({move}): no "
                "relation between retrieval and quality is to be expected, and its absence says nothing against the "
                "claim")
    return (f"the counterfactual cannot tell whether {system}'s melody reaches the music ({move}): read the relation "
            "with that in mind")


def _above_chance(probes: pd.DataFrame, captions: str, target: str, source: str) -> bool | None:
    """Whether the profile aligner's probe of ``target`` from ``source`` beats chance (its interval's low end above
    it) under ``captions``; None when the probe was not run."""
    rows = probes[(probes["captions"] == captions) & (probes["variant"] == "trimodal") & (probes["target"] == target)
                  & (probes["input"] == source)]
    return None if rows.empty else bool(rows["low"].iloc[0] > rows["chance"].iloc[0])


def explain(moves: pd.DataFrame, probes: pd.DataFrame) -> dict[str, str]:
    """One sentence per melody mode: does the melody reach the music (under the first caption set of ``moves``, and
    under the others), and which of the three explanations of docs/method.md §2.9 the measurements support — r
    lacks the key (``mmgen``: its probe at chance), the caption says it already (q's probe above chance, and the
    key move's interval above the first set's under captions without the key), a pooled vector cannot steer a
    contour (``mmgen``: the contour change's chroma move is *no move*, or exactly zero when the tower pools the
    reversed tokens into the same r). ``mmgen+roll`` hands the UNet the notes in time, so a key move of *no move*
    there means the melody is there and not followed."""
    sets = list(dict.fromkeys(moves["captions"]))
    out = {}
    for system in [s for s in MODES if MODES[s] != "text"]:
        def row(captions: str, swap: str) -> pd.Series | None:
            r = moves[(moves["captions"] == captions) & (moves["system"] == system) & (moves["swap"] == swap)]
            return None if r.empty else r.iloc[0]

        key, contour = row(sets[0], "key"), row(sets[0], "contour")
        if key is None:
            continue
        words = [f"{system}: under {sets[0]} captions the key change moves its pitch classes {span(key, 'pcp_move')}, "
                 f"{key['pcp_move of follower']:.0%} of a perfect follower's move ({key['pcp_move outcome']})"]
        if contour is not None:
            words.append(f"the contour change moves its frame-wise chroma {span(contour, 'chroma_move')} "
                         f"({contour['chroma_move outcome']})")
        for other in sets[1:]:
            k = row(other, "key")
            if k is not None:
                words.append(f"under {other} captions the key change moves it {span(k, 'pcp_move')} "
                             f"({k['pcp_move outcome']})")
        pooled = MODES[system] == "mmgen"
        why = []
        r_key = _above_chance(probes, sets[0], "key", "r (melody)")
        if pooled and r_key is not None:
            why.append("r carries the key (its probe beats chance)" if r_key else
                       "r does not carry the key detectably (its probe is not above chance): explanation 1")
        if _above_chance(probes, sets[0], "key", "q (caption)"):
            k = row(sets[1], "key") if len(sets) > 1 else None
            if k is None:
                why.append("the caption names the key too (q's probe beats chance); `claims.caption_sets` with "
                           "`sound` tests whether that is why")
            elif k["pcp_move low"] > key["pcp_move high"]:
                why.append("the caption names the key already: without it in the caption the move is larger "
                           "(explanation 2 supported)")
            else:
                why.append("the caption names the key too, but without it in the caption the move is not told apart "
                           "(explanation 2 not supported here)")
        if pooled and contour is not None:
            if contour["chroma_move low"] == contour["chroma_move high"] == 0:
                why.append("the contour change leaves the output unchanged: the tower pools the melody's tokens into "
                           "the same r (explanation 3, by construction)")
            elif contour["chroma_move outcome"] == "no move":
                why.append("a pooled r does not steer the contour (explanation 3)")
        if not pooled and key["pcp_move outcome"] == "no move":
            why.append("the roll hands the UNet the notes in time, so the melody is there and not followed")
        out[system] = "; ".join(words) + (f". Why: {'; '.join(why)}." if why else ".")
    return out
