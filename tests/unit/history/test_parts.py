"""Append-only Parquet parts: atomic appends, readers that count each row once, compaction."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from mmts.history.parts import PartTable, live_parts, part_name

SCHEMA = pa.schema([("k", pa.int64())])


def _rows(*values: int) -> pa.Table:
    return pa.table({"k": list(values)}, schema=SCHEMA)


def test_parts_append_and_read_back_in_any_number(tmp_path: Path) -> None:
    table = PartTable(tmp_path / "t", SCHEMA)
    assert table.read().num_rows == 0  # no part yet: the schema, no rows
    for flush in range(1, 4):
        table.append(_rows(flush * 10, flush * 10 + 1), "e00000", flush)
    assert sorted(table.read().column("k").to_pylist()) == [10, 11, 20, 21, 30, 31]
    assert not list((tmp_path / "t").glob(".*"))  # no temporary file left behind


def test_a_part_covered_by_a_merged_one_is_not_read_twice(tmp_path: Path) -> None:
    names = [part_name("e00001", 1, 1), part_name("e00001", 2, 2), part_name("e00001", 1, 2),
             part_name("e00002", 1, 1), "not-a-part.parquet"]  # fmt: skip
    kept = [p.name for p in live_parts(tmp_path / n for n in names)]
    assert kept == [part_name("e00001", 1, 2), part_name("e00002", 1, 1)]


def test_compaction_merges_runs_of_small_parts_only(tmp_path: Path) -> None:
    table = PartTable(tmp_path / "t", SCHEMA)
    for flush in range(1, 11):
        table.append(_rows(flush), "e00000", flush)
    table.append(_rows(99), "e00001", 1)  # another writer's part is left alone
    merged = table.compact("e00000", min_parts=3, small_bytes=1 << 30)
    assert [p.name for p in merged] == [part_name("e00000", 1, 10)]
    assert sorted(p.name for p in table.parts()) == [
        part_name("e00000", 1, 10), part_name("e00001", 1, 1)
    ]  # fmt: skip
    assert sorted(table.read().column("k").to_pylist()) == [*range(1, 11), 99]
    # A big part splits the runs: a merge never spans (and so never hides) a part it left out.
    for flush in range(11, 14):
        table.append(_rows(flush), "e00000", flush)
    big = (tmp_path / "t" / part_name("e00000", 1, 10)).stat().st_size
    assert table.compact("e00000", min_parts=2, small_bytes=big) == [
        tmp_path / "t" / part_name("e00000", 11, 13)
    ]
    assert sorted(table.read().column("k").to_pylist()) == [*range(1, 14), 99]


def test_a_reader_between_merge_and_delete_counts_rows_once(tmp_path: Path) -> None:
    table = PartTable(tmp_path / "t", SCHEMA)
    for flush in (1, 2):
        table.append(_rows(flush), "e00000", flush)
    table.append(table.read(), "e00000", 1, 2)  # the merged part, before the small ones go
    assert len(list((tmp_path / "t").glob("*.parquet"))) == 3
    assert sorted(table.read().column("k").to_pylist()) == [1, 2]
