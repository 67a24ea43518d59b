"""What wait shows on stderr: one live line on a terminal, plain lines in logs."""

from __future__ import annotations

import io

import pytest

from inference_client.progress import HEARTBEAT_SECONDS, WaitProgress, describe_hold, describe_status, format_elapsed


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_one_line_is_rewritten_in_place_and_ended_on_close():
    stream = Terminal()
    progress = WaitProgress("abc", stream)

    progress.update("InProgress", 1)
    progress.update("InProgress", 2)
    progress.update("Completed", 3)
    progress.close()

    assert stream.getvalue() == (
        "\rabc: InProgress, 1s elapsed\x1b[K"
        "\rabc: InProgress, 2s elapsed\x1b[K"
        "\rabc: Completed, 3s elapsed\x1b[K"
        "\n"
    )


def test_without_a_terminal_a_line_is_printed_per_status_change_not_per_poll():
    stream = io.StringIO()
    progress = WaitProgress("abc", stream)

    for elapsed in range(5):
        progress.update("InProgress", elapsed)
    progress.update("Completed", 5)
    progress.close()

    assert stream.getvalue() == "abc: InProgress, 0s elapsed\nabc: Completed, 5s elapsed\n"


def test_without_a_terminal_a_long_wait_still_shows_a_line_now_and_then():
    stream = io.StringIO()
    progress = WaitProgress("abc", stream)

    progress.update("InProgress", 0)
    progress.update("InProgress", HEARTBEAT_SECONDS - 1)
    progress.update("InProgress", HEARTBEAT_SECONDS)

    assert stream.getvalue().splitlines() == ["abc: InProgress, 0s elapsed", "abc: InProgress, 1m00s elapsed"]


@pytest.mark.parametrize(("seconds", "shown"), [(0, "0s"), (59.9, "59s"), (65, "1m05s"), (3600, "60m00s")])
def test_elapsed_time_reads_in_minutes_and_seconds(seconds, shown):
    assert format_elapsed(seconds) == shown


def test_wait_says_when_the_endpoint_is_starting_from_zero():
    answer = {"status": "InProgress", "capacity": {"state": "waking", "since": "2026-01-01T00:00:01.000Z"}}
    assert describe_status(answer) == "InProgress, endpoint starting from zero since 2026-01-01T00:00:01.000Z"


def test_wait_shows_the_plain_status_while_the_endpoint_runs():
    assert describe_status({"status": "InProgress"}) == "InProgress"


def test_stream_says_the_model_is_starting_and_for_how_long():
    assert describe_hold({"state": "waking", "elapsed_seconds": 75}) == (
        "model starting from zero (waking), 1m15s elapsed; tokens follow"
    )
