"""report.md's table parses as Markdown: every row has the header's cells, pipes inside a cell included."""

from __future__ import annotations

from markdown_it import MarkdownIt

from edgeport.export.report import COLUMNS, Row, markdown_table
from edgeport.runtime.manifest import Artifact, TensorSpec

PARITY = {"accuracy": 0.87, "accuracy_delta_points": 0.0, "class_agreement": 1.0, "agreement_samples": 394,
          "max_abs_diff": 5.8e-06, "latency_ms_median": 4.5, "outputs": [{"name": "a|b", "kind": "values",
                                                                          "relative_diff": 0.01}]}


def parsed_rows(markdown: str) -> list[list[str]]:
    """The cells of each row of the first table, as a CommonMark parser with GFM tables reads them."""
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    rows, row = [], None
    for i, token in enumerate(tokens):
        if token.type == "tr_open":
            row = []
        elif token.type in ("th_open", "td_open"):
            row.append(tokens[i + 1].content)
        elif token.type == "tr_close":
            rows.append(row)
    return rows


def test_every_row_has_the_headers_cells_and_pipes_stay_inside_theirs():
    spec = [TensorSpec("x", [None, 4], "float32")]
    artifact = Artifact("tflite", "fp32", "model.fp32.tflite", "0" * 64, 1000, spec, spec, status="passed", parity=PARITY)
    markdown = markdown_table([Row("tflite", "fp32", artifact), Row("onnx", "fp32", None, "ValueError: x | y")])
    rows = parsed_rows(markdown)
    assert rows[0] == list(COLUMNS) and "max |Δp|" in rows[0]
    assert len(rows) == 3 and all(len(r) == len(COLUMNS) for r in rows)
    assert rows[1][:2] == ["tflite", "fp32"] and "a|b: 1.00% of range" in rows[1][COLUMNS.index("max |Δp|")]
    assert rows[2][-1] == "FAILED"
