"""The console's SVG charts: one bar a value (none for a missing one), lengths in proportion,
every text escaped, no script and no style attribute (the console's CSP forbids both)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from console.charts import Row, bar_chart, line_chart

SVG = "{http://www.w3.org/2000/svg}"


def _bars(svg: str) -> list[float]:
    return [float(w) for w in re.findall(r'<rect class="bar"[^>]* width="([0-9.]+)"', svg)]


def test_a_bar_a_value_in_proportion_and_none_for_a_missing_one() -> None:
    rows = [Row("A", (50.0,)), Row("B", (None,)), Row("C", (100.0,))]
    svg = bar_chart("c", "title", rows, ["rate"], 100.0, [["50%"], ["—"], ["100%"]])
    widths = _bars(svg)
    assert len(widths) == 2
    assert widths[1] == 2 * widths[0]
    ET.fromstring(svg)  # well-formed


def test_several_series_draw_a_bar_each_and_a_legend() -> None:
    rows = [Row("stage 1", (1.0, 3.0)), Row("stage 2", (2.0, None))]
    svg = bar_chart("c", "t", rows, ["p50", "p90"], 3.0, [["1", "3"], ["2", "—"]])
    assert len(_bars(svg)) == 3
    texts = [e.text for e in ET.fromstring(svg).iter(f"{SVG}text")]
    assert "p50" in texts
    assert "p90" in texts


def test_every_text_is_escaped_and_nothing_runs() -> None:
    hostile = '<script>alert(1)</script>" onload="x'
    svg = bar_chart(hostile, hostile, [Row(hostile, (1.0,))], [hostile], 1.0, [[hostile]])
    svg += line_chart("l", hostile, [(hostile, 0.5)], 1.0, [hostile])
    assert "<script" not in svg
    assert 'onload="' not in svg
    assert "style=" not in svg


def test_a_line_breaks_where_a_point_has_no_value() -> None:
    points = [("2026-01", 0.5), ("2026-02", None), ("2026-03", 0.7), ("2026-04", 0.9)]
    svg = line_chart("l", "t", points, 1.0, ["50%", "—", "70%", "90%"])
    root = ET.fromstring(svg)
    assert len(list(root.iter(f"{SVG}circle"))) == 3
    [line] = list(root.iter(f"{SVG}polyline"))
    assert len(line.attrib["points"].split()) == 2, "only the two points after the gap join"
