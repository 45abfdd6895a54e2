"""Displayed tables: seconds with their unit, rates as percentages, empty columns left out and explained."""

from __future__ import annotations

import numpy as np
import pandas as pd

from catapult_nb import analysis
from catapult_nb.table_format import formatted


def test_seconds_rates_and_counts_are_formatted_and_the_frame_is_left_alone():
    frame = pd.DataFrame(
        {"gathers": [20956, 3], "timeoutRate": [0.097967, 0.5], "medianDuration": [7.1375, np.nan],
         "seconds": [2.894467, 1.0], "wpm": [161.4, 170.2], "timing": ["audio", "audio"]},
        index=pd.Index(["a", "b"], name="prompt"),
    )
    shown = formatted(frame)
    text, page = repr(shown), shown._repr_html_()
    for expected in ("20,956", "9.8%", "50.0%", "7.14 s", "2.89 s", "161", "—"):
        assert expected in text and expected in page, expected
    assert "2.894467" not in text and "0.097967" not in page
    assert shown.data is frame and frame.loc["a", "seconds"] == 2.894467


def test_an_empty_column_is_left_out_and_explained():
    frame = pd.DataFrame({"completionRate": [0.86, 0.66], "medianTimeToFirstKey": [np.nan, np.nan],
                          "mystery": [None, None]}, index=["code-a", "code-b"])
    shown = formatted(frame)
    page = shown._repr_html_()
    assert "<th>medianTimeToFirstKey</th>" not in page and "<th>mystery</th>" not in page
    assert "Left out, empty in every row: medianTimeToFirstKey (" in shown.note()
    assert "suppressDtmf" in page and "mystery" in shown.note()
    assert "nan" not in page.lower().replace("cnb-table-note", "")


def test_the_prompt_comparison_shows_its_seconds_formatted():
    lab = analysis.compare_prompts({"short": "Enter your code", "long": "Please enter your account code"})
    page = lab._repr_html_()
    seconds = lab.table.loc["short", "seconds"]
    assert f"{seconds:.2f} s" in page and repr(float(seconds)) not in page
