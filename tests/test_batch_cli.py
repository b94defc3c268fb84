"""`policyc batch` as a user runs it: every input row is one decision row or one reject row, in every format, on
every engine, with the summary printed and the counts reconciled."""
from __future__ import annotations

import csv
import json
from decimal import Decimal

import pyarrow.parquet as pq
import pytest

from policyc.cli import main
from policyc.review.impact_outcomes import program_specs
from policyc.runtime import jsonio

from batch_util import DAY, actual, expected, population

N = 120


@pytest.fixture(scope="module")
def households(evaluator):
    return population(evaluator, N, seed=21)


def _jsonl(path, requests, extra_lines=()):
    with path.open("w", encoding="utf-8") as f:
        for r in requests:
            f.write(jsonio.dumps(r, indent=None) + "\n")
        for line in extra_lines:
            f.write(line + "\n")
    return path


def _run(capsys, *args):
    code = main(["batch", *map(str, args)])
    return code, capsys.readouterr().err


def _rows(path):
    return [json.loads(line, parse_float=Decimal) for line in path.read_text(encoding="utf-8").splitlines()]


def test_every_row_is_decided_or_rejected_and_bad_rows_never_stop_the_run(tmp_path, capsys, bundle_file, households,
                                                                       evaluator):
    bad = [dict(households[0], id="bad-money"), dict(households[1], id="bad-place", locality="999999")]
    bad[0] = jsonio.loads(jsonio.dumps(bad[0], indent=None))
    bad[0]["household"]["members"][0]["monthly_income"] = "abc"
    src = _jsonl(tmp_path / "in.jsonl", households[:50] + bad + households[50:],
                 ["not json", "[1, 2]", ""])  # the blank line is not a row
    with src.open("ab") as f:
        f.write(b'{"household": "\xff"}\n')
    out, rej = tmp_path / "out.jsonl", tmp_path / "rej.jsonl"
    code, err = _run(capsys, "--bundle", bundle_file, "--input", src, "--output", out, "--rejects", rej)
    assert code == 0, err
    decided, rejected = _rows(out), _rows(rej)
    total = N + 2 + 3
    assert len(decided) + len(rejected) == total
    assert f"输入 {total} 行 = 决定 {len(decided)} 行" in err and f"拒绝 {len(rejected)} 行" in err
    assert sorted(r["row"] for r in decided + rejected) == list(range(total))
    by_row = {r["row"]: r for r in rejected}
    assert by_row[50]["path"] == "$.household.members[0].monthly_income" and "金额" in by_row[50]["message"]
    assert by_row[51]["path"] == "$.locality" and "999999" in by_row[51]["message"]
    assert by_row[51]["where"] == "in.jsonl:52"
    assert by_row[N + 2]["path"] == "$" and "JSON" in by_row[N + 2]["message"]
    assert by_row[N + 3]["path"] == "$" and by_row[N + 4]["path"] == "$"
    ids = [r["id"] for r in decided]
    assert ids == [h["id"] for h in households]  # in input order, each with its own id
    for r, h in zip(decided[:10], households[:10]):
        assert actual(r) == expected(evaluator, h)


def test_engines_write_the_same_file(tmp_path, capsys, bundle_file, households):
    src = _jsonl(tmp_path / "in.jsonl", households)
    texts = {}
    for engine in ("duckdb", "python"):
        out = tmp_path / f"{engine}.jsonl"
        code, err = _run(capsys, "--bundle", bundle_file, "--input", src, "--output", out, "--engine", engine,
                         "--reasons")
        assert code == 0, err
        texts[engine] = out.read_text(encoding="utf-8")
    assert texts["duckdb"] == texts["python"]
    assert "DuckDB 120 行" in err.replace(",", "") or "Python 运行时 120 行" in err


def test_csv_and_parquet_outputs_hold_the_same_decisions(tmp_path, capsys, bundle_file, households):
    src = _jsonl(tmp_path / "in.jsonl", households)
    for suffix in ("jsonl", "csv", "parquet"):
        code, err = _run(capsys, "--bundle", bundle_file, "--input", src, "--output", tmp_path / f"o.{suffix}",
                         "--programs", "dibao,tekun")
        assert code == 0, err
    lines = _rows(tmp_path / "o.jsonl")
    table = pq.read_table(tmp_path / "o.parquet").to_pylist()
    with (tmp_path / "o.csv").open(encoding="utf-8") as f:
        flat = list(csv.DictReader(f))
    assert len(lines) == len(table) == len(flat) == N
    for a, b, c in zip(lines, table, flat):
        assert a["row"] == b["row"] == int(c["row"]) and a["id"] == b["id"] == c["id"]
        assert a["programs"]["dibao"]["eligible"] == b["programs"]["dibao"]["eligible"]
        assert c["dibao.eligible"] == str(a["programs"]["dibao"]["eligible"]).lower()
        assert Decimal(c["dibao.monthly_amount"]) == a["programs"]["dibao"]["monthly_amount"]
        assert set(a["programs"]) == {"dibao", "tekun"}


def test_member_rows_csv_input(tmp_path, capsys, bundle_file, households, evaluator):
    """One row per member with the household key; household-level columns from the household's first row."""
    module = evaluator.module
    hh_fields = [f for f in module.records["household"].fields if f.id != "members"]
    m_fields = module.records["member"].fields
    cols = ["household_id", "locality", "date"] + [f"household.{f.id}" for f in hh_fields] + \
           [f"member.{f.id}" for f in m_fields]
    tops = [(rid, f) for rid in ("incident", "application") for f in module.records[rid].fields]
    cols += [f"{rid}.{f.id}" for rid, f in tops]

    def cell(v):
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (dict, list)):
            return jsonio.dumps(v, indent=None)
        return str(v)
    path = tmp_path / "in.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for h in households[:40]:
            for m in h["household"]["members"]:
                row = [h["id"], h["locality"], h["date"]]
                row += [cell(h["household"][f.id]) if f.id in h["household"] else "" for f in hh_fields]
                row += [cell(m[f.id]) if f.id in m else "" for f in m_fields]
                row += [cell(h[rid][f.id]) if f.id in (h.get(rid) or {}) else "" for rid, f in tops]
                w.writerow(row)
    out = tmp_path / "out.jsonl"
    code, err = _run(capsys, "--bundle", bundle_file, "--input", path, "--output", out)
    assert code == 0, err
    rows = _rows(out)
    assert [r["id"] for r in rows] == [h["id"] for h in households[:40]]
    for r, h in zip(rows, households[:40]):
        assert actual(r) == expected(evaluator, h)


def test_parquet_input_and_flags_for_place_and_date(tmp_path, capsys, bundle_file, households, evaluator):
    src = tmp_path / "pop.parquet"
    assert main(["synthetic", "--bundle", str(bundle_file), "--households", "60", "--date", DAY,
                 "--out", str(src)]) == 0
    jl = tmp_path / "pop.jsonl"
    assert main(["synthetic", "--bundle", str(bundle_file), "--households", "60", "--date", DAY,
                 "--out", str(jl)]) == 0
    capsys.readouterr()
    for name in ("pop.parquet", "pop.jsonl"):
        code, err = _run(capsys, "--bundle", bundle_file, "--input", tmp_path / name,
                         "--output", tmp_path / f"{name}.out.jsonl")
        assert code == 0, err
    assert _rows(tmp_path / "pop.parquet.out.jsonl") == _rows(tmp_path / "pop.jsonl.out.jsonl")
    # a request without its own place and date takes the flags'; one with them keeps its own
    bare = [{k: v for k, v in h.items() if k not in ("locality", "date")} for h in households[:3]]
    src2 = _jsonl(tmp_path / "bare.jsonl", bare + [households[3]])
    out = tmp_path / "bare.out.jsonl"
    code, err = _run(capsys, "--bundle", bundle_file, "--input", src2, "--output", out,
                     "--locality", "140105", "--date", "2025-01-01")
    assert code == 0, err
    rows = _rows(out)
    assert [(r["locality"], r["date"]) for r in rows[:3]] == [("140105", "2025-01-01")] * 3
    assert (rows[3]["locality"], rows[3]["date"]) == (households[3]["locality"], households[3]["date"])
    assert actual(rows[0]) == expected(evaluator, dict(bare[0], locality="140105", date="2025-01-01"))


def test_parquet_rejects_name_their_row_and_arrow_batches_change_nothing(tmp_path, capsys, bundle_file, monkeypatch):
    import pyarrow as pa

    from policyc.batch import engine
    src = tmp_path / "pop.parquet"
    assert main(["synthetic", "--bundle", str(bundle_file), "--households", "40", "--date", DAY,
                 "--out", str(src)]) == 0
    capsys.readouterr()
    table = pq.read_table(src)
    places = table.column("locality").to_pylist()
    places[7] = "999999"  # no such place: row 7 is a reject, named by its row in the file
    pq.write_table(table.set_column(table.schema.get_field_index("locality"), "locality", pa.array(places)), src)
    outs = []
    for batch in (engine.BATCH, 3):  # DuckDB gets each chunk in Arrow batches of this many rows
        monkeypatch.setattr(engine, "BATCH", batch)
        out, rej = tmp_path / f"o{batch}.jsonl", tmp_path / f"r{batch}.jsonl"
        code, err = _run(capsys, "--bundle", bundle_file, "--input", src, "--output", out, "--rejects", rej,
                         "--chunk", 16)
        assert code == 0, err
        rejected = _rows(rej)
        assert [(r["row"], r["where"], r["path"]) for r in rejected] == [(7, "pop.parquet: 第 8 行", "$.locality")]
        assert "DuckDB 39 行" in err
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def test_summary_matches_the_decisions(tmp_path, capsys, bundle_file, households, evaluator):
    src = _jsonl(tmp_path / "in.jsonl", households)
    out, summary = tmp_path / "out.jsonl", tmp_path / "summary.json"
    code, err = _run(capsys, "--bundle", bundle_file, "--input", src, "--output", out, "--summary", summary)
    assert code == 0, err
    body = json.loads(summary.read_text(encoding="utf-8"), parse_float=Decimal)
    assert body["input_rows"] == body["decided"] == N and body["rejected"] == 0
    rows = _rows(out)
    spec = program_specs(evaluator.module)["dibao"]
    key = spec.eligibility[0][0]
    eligible = sum(1 for r in rows if r["programs"]["dibao"][key] is True)
    total = sum(r["programs"]["dibao"]["monthly_amount"] for r in rows)
    dibao = [x for x in body["by_program_and_locality"] if x["program"] == "dibao"]
    assert sum(x["eligible"] for x in dibao) == eligible
    assert sum(x["monthly_total"] for x in dibao) == total
    assert sum(x["households"] for x in dibao) == N
    assert "最低生活保障" in err


@pytest.mark.parametrize("flags, message", [
    (["--programs", ","], "--programs"),
    (["--programs", "dibao,nope"], "nope"),
    (["--date", "2024-13-01"], "--date"),
    (["--locality", "不存在的县"], "不存在的县"),
    (["--chunk", "0"], "--chunk"),
    (["--rejects", "in.jsonl"], "输入文件"),
])
def test_bad_flags_are_usage_errors(tmp_path, capsys, bundle_file, households, flags, message):
    src = _jsonl(tmp_path / "in.jsonl", households[:2])
    flags = [str(tmp_path / f) if f == "in.jsonl" else f for f in flags]
    code, err = _run(capsys, "--bundle", bundle_file, "--input", src, "--output", tmp_path / "o.jsonl", *flags)
    assert code == 2 and message in err
    assert not (tmp_path / "o.jsonl").exists()


def test_unreadable_inputs_and_outputs(tmp_path, capsys, bundle_file):
    code, err = _run(capsys, "--bundle", bundle_file, "--input", tmp_path / "missing.jsonl",
                     "--output", tmp_path / "o.jsonl")
    assert code == 2 and "不存在" in err
    src = _jsonl(tmp_path / "in.txt", [])
    code, err = _run(capsys, "--bundle", bundle_file, "--input", src, "--output", tmp_path / "o.jsonl")
    assert code == 2 and "格式" in err
    src = _jsonl(tmp_path / "in.jsonl", [])
    code, err = _run(capsys, "--bundle", bundle_file, "--input", src, "--output", tmp_path / "nodir" / "o.jsonl")
    assert code == 2 and "不存在" in err
