"""The session's journal: JSON lines a browser can parse, read on from where the last read ended."""

from __future__ import annotations

import json
from pathlib import Path

from mmts.live.commands import CommandInbox, read_ack, send_command
from mmts.live.journal import JOURNAL_FILE, Journal, read_journal


def test_lines_are_strict_json_and_a_half_written_line_waits(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.write("book", time=1, imbalance=float("nan"), ma=[0.1, float("inf")],
                  nested={"x": [float("-inf")]}, bid=(1.0, 2.0))  # fmt: skip
    journal.write("decision", time=2, price=float("nan"), action="BUY")
    journal.close()
    assert journal.failed_writes == 0
    path = tmp_path / JOURNAL_FILE
    text = path.read_text()

    def refuse(constant: str) -> None:
        raise AssertionError(constant)

    lines = [json.loads(line, parse_constant=refuse) for line in text.splitlines()]
    assert lines[0] == {"type": "book", "time": 1, "imbalance": None, "ma": [0.1, None],
                        "nested": {"x": [None]}, "bid": [1.0, 2.0]}  # fmt: skip
    assert lines[1]["price"] is None
    items, offset = read_journal(path)
    assert len(items) == 2 and offset == len(text.encode())
    with path.open("a") as f:
        f.write('{"type": "status", "ti')  # a line being written
    assert read_journal(path, offset) == ([], offset)
    with path.open("a") as f:
        f.write('me": 3}\n')
    assert read_journal(path, offset)[0] == [{"type": "status", "time": 3}]


def test_a_journal_that_cannot_write_counts_it_and_the_caller_goes_on(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.path.mkdir()  # a folder where the file should be: every write fails
    journal.write("decision", time=1)
    journal.close()
    assert journal.failed_writes == 1


def test_a_command_acknowledged_before_a_crash_is_never_applied_again(tmp_path: Path) -> None:
    applied: list[str] = []

    def apply(command: str, args: dict) -> str:
        if command == "boom":
            raise ValueError("cannot boom")
        applied.append(command)
        return "done"

    inbox = CommandInbox(tmp_path, apply, lambda: 5)
    first = send_command(tmp_path, "pause")
    inbox.handle(inbox.pending())
    assert applied == ["pause"] and read_ack(tmp_path, first)["result"] == "applied"  # type: ignore[index]
    # The session died after the ack, before the inbox file was removed: put it back.
    (tmp_path / "commands" / "inbox" / f"{first}.json").write_text(
        json.dumps({"id": first, "command": "pause"})
    )
    refused = send_command(tmp_path, "boom")
    inbox.handle(inbox.pending())
    assert applied == ["pause"]  # not twice
    assert read_ack(tmp_path, refused)["result"] == "rejected"  # type: ignore[index]
    assert not list((tmp_path / "commands" / "inbox").iterdir())
