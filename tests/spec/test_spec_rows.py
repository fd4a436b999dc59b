"""``rows:``: one job per row of a data file beside the spec, its columns as placeholders; every problem with a
row is reported at the data file's own line and column, all in one pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from photogpt_batch.review import campaign_axes
from photogpt_batch.spec.diagnostics import SpecError
from photogpt_batch.spec.load import load_campaign
from photogpt_batch.spec.selection import select_jobs

CSV = 'sku,name,duration\nA17,amber bottle,8\n0123,"flask, tall",6\nC33,"tea\ntin",4\n'
ENTRY = """  - id: "sku-{sku}"
    model: veo-3.1
    rows: ROWS
    prompt: "{name} on wet stone"
    options: {duration: "{duration}"}
    referenceImages: [{url: "https://example.com/{sku}.png", role: first_frame}]
"""


def _spec(tmp_path: Path, rows: str = "products.csv", data: str | bytes = CSV, entry: str = ENTRY,
          extra: str = "") -> Path:
    target = tmp_path / rows
    if not rows.startswith(("/", "..")):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data if isinstance(data, bytes) else data.encode())
    spec = tmp_path / "c.yaml"
    spec.write_text("version: 1\ncampaign: c\njobs:\n" + entry.replace("ROWS", rows) + extra)
    return spec


def _errors(spec: Path) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_campaign(spec)
    return [d.format() for d in info.value.diagnostics if d.severity == "error"]


def test_each_row_makes_a_job_with_its_columns_in_id_prompt_options_and_references(tmp_path: Path) -> None:
    campaign = load_campaign(_spec(tmp_path))
    assert [job.id for job in campaign.jobs] == ["sku-A17", "sku-0123", "sku-C33"]  # 0123 stays text in the id
    first, second, third = (job.body for job in campaign.jobs)
    assert first["prompt"] == "amber bottle on wet stone"
    assert first["options"]["veo"]["duration"] == 8  # a whole placeholder takes the cell's number
    assert first["referenceImages"] == [{"url": "https://example.com/A17.png", "role": "first_frame"}]
    assert second["prompt"] == "flask, tall on wet stone"
    assert third["prompt"] == "tea\ntin on wet stone"


def test_rows_cross_the_matrix(tmp_path: Path) -> None:
    entry = ENTRY.replace('"sku-{sku}"', '"sku-{sku}-{ratio}"').replace(
        'options: {duration: "{duration}"}', 'options: {duration: "{duration}", aspectRatio: "{ratio}"}'
    ) + '    matrix: {ratio: ["16:9", "9:16"]}\n'
    campaign = load_campaign(_spec(tmp_path, entry=entry))
    assert [job.id for job in campaign.jobs] == ["sku-A17-16x9", "sku-A17-9x16", "sku-0123-16x9", "sku-0123-9x16",
                                                 "sku-C33-16x9", "sku-C33-9x16"]


@pytest.mark.parametrize(("name", "data"), [
    ("products.tsv", "sku\tname\tduration\nA17\tamber bottle\t8\n0123\tflask, tall\t6\nC33\t\"tea\ntin\"\t4\n"),
    ("products.jsonl", '{"sku": "A17", "name": "amber bottle", "duration": 8}\n\n'
                       '{"sku": "0123", "name": "flask, tall", "duration": 6}\n'
                       '{"sku": "C33", "name": "tea\\ntin", "duration": 4}\n'),
    ("products.yaml", "- {sku: A17, name: amber bottle, duration: 8}\n- {sku: '0123', name: 'flask, tall', "
                      "duration: 6}\n- {sku: C33, name: \"tea\\ntin\", duration: 4}\n"),
    ("data/products.json", '[{"sku": "A17", "name": "amber bottle", "duration": 8},\n'
                           '{"sku": "0123", "name": "flask, tall", "duration": 6},\n'
                           '{"sku": "C33", "name": "tea\\ntin", "duration": 4}]\n'),
    ("bom.csv", "\ufeff" + CSV),
])
def test_every_format_gives_the_same_jobs(tmp_path: Path, name: str, data: str) -> None:
    expected = [(job.id, job.content_hash) for job in load_campaign(_spec(tmp_path / "ref")).jobs]
    campaign = load_campaign(_spec(tmp_path, rows=name, data=data))
    assert [(job.id, job.content_hash) for job in campaign.jobs] == expected


def test_a_row_rejected_by_the_model_and_a_duplicate_id_are_reported_at_the_rows_cells(tmp_path: Path) -> None:
    data = "sku,name,duration\nA17,amber bottle,8\nB02,\"flask,\ntall\",9\nA17,again,4\n"
    errors = _errors(_spec(tmp_path, data=data))
    assert errors == [
        'products.csv:4:7: error: column duration: options.duration: 9 is not one of 4, 6, 8 (veo-3.1; job sku-B02)'
        .replace("products.csv", str(tmp_path / "products.csv")),
        f"{tmp_path / 'products.csv'}:5:1: error: duplicate job id 'sku-A17' (first at {tmp_path / 'products.csv'} "
        "line 2); each row needs its own id: put a column that tells the rows apart in the id",
    ]


@pytest.mark.parametrize(("data", "expected"), [
    ("sku,name,duration\nA17,,8\nB02,x\n", ["3:1: error: this row has 2 cells and the header 3",
                                           "2:5: error: column name: the cell is empty"]),
    ("sku,product name,duration\nA17,x,8\n", ["1:5: error: column \"product name\" is not a placeholder name"]),
    ("sku,,duration\nA17,x,8\n", ["1:5: error: the header has an empty column name"]),
    ("sku;name;duration\nA17;x;8\n", ["1:1: error: column \"sku;name;duration\" is not a placeholder name; is the "
                                      "file separated by ';'?"]),
    ("sku,name,sku,duration\nA17,x,y,8\n", ["1:10: error: column 'sku' appears twice in the header"]),
    (b"sku,name,duration\nA17,caf\xe9,8\n", ["2:8: error: is not UTF-8 text"]),
    ("sku,name,duration\n".encode("utf-16"), ["1:1: error: is UTF-16 text"]),
    ("", ["1:1: error: the file is empty"]),
    ("sku,name,duration\n", ["1:1: error: the file has no rows"]),
])
def test_bad_data_files_are_located_errors_in_one_pass(tmp_path: Path, data: str | bytes,
                                                       expected: list[str]) -> None:
    errors = _errors(_spec(tmp_path, data=data))
    assert len(errors) == len(expected), errors
    for want in expected:
        assert any(e.startswith(f"{tmp_path / 'products.csv'}:{want}") for e in errors), (want, errors)


@pytest.mark.parametrize(("rows", "message"), [
    ("missing.csv", "missing.csv: no such file"),
    ("../../etc/passwd.csv", "climbs out of the spec's folder"),
    ("/etc/passwd.csv", "is absolute"),
    ("products.xlsx", "is not a rows file"),
])
def test_a_rows_path_that_cannot_be_read_is_an_error_at_the_spec(tmp_path: Path, rows: str, message: str) -> None:
    spec = _spec(tmp_path)
    spec.write_text(spec.read_text().replace("rows: products.csv", f"rows: {rows}"))
    errors = _errors(spec)
    assert len(errors) == 1 and errors[0].startswith(f"{spec}:6:11: error: rows:") and message in errors[0], errors


def test_an_unknown_column_and_an_id_without_a_column_are_errors_at_the_spec(tmp_path: Path) -> None:
    entry = ENTRY.replace("{name} on", "{nmae} on")
    assert any("7:13: error: prompt: unknown placeholder {nmae}" in e and "did you mean {name}?" in e
               for e in _errors(_spec(tmp_path, entry=entry)))
    errors = _errors(_spec(tmp_path, entry=ENTRY.replace('"sku-{sku}"', "hero")))
    assert errors == [f"{tmp_path / 'c.yaml'}:4:9: error: id: 'hero' uses no column of {tmp_path / 'products.csv'}, "
                      "so every row would make a job with the same id; put a column that tells the rows apart in "
                      'the id, e.g. `id: "{sku}"`']


def test_columns_are_axes_for_only_and_the_review_page(tmp_path: Path) -> None:
    campaign = load_campaign(_spec(tmp_path))
    assert campaign_axes(campaign.jobs) == ["model", "sku", "name", "duration"]
    select_jobs(campaign, ["sku=A17"])
    assert [job.id for job in campaign.jobs] == ["sku-A17"]
    assert campaign.skipped == ["sku-0123", "sku-C33"]
