"""What ``wait`` shows on stderr while it polls."""

from __future__ import annotations

from typing import TextIO

# Without a terminal (CI logs, pipes) a line per poll would flood the log: print changes, and
# a reminder now and then that the wait is still alive.
HEARTBEAT_SECONDS = 60.0


def format_elapsed(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def describe_status(answer: dict) -> str:
    """An inference's status as ``wait`` shows it, saying so when its endpoint starts from zero."""
    capacity = answer.get("capacity") or {}
    if capacity.get("state") != "waking":
        return str(answer.get("status"))
    since = capacity.get("since")
    return f"{answer.get('status')}, endpoint starting from zero" + (f" since {since}" if since else "")


def describe_hold(data: dict) -> str:
    """A streaming ``status`` event as ``stream`` shows it on stderr."""
    elapsed = data.get("elapsed_seconds")
    elapsed_text = format_elapsed(elapsed) if isinstance(elapsed, (int, float)) else "?"
    return f"model starting from zero ({data.get('state', 'waking')}), {elapsed_text} elapsed; tokens follow"


class WaitProgress:
    """One line rewritten in place on a terminal; plain lines otherwise."""

    def __init__(self, inference_id: str, stream: TextIO) -> None:
        self._inference_id = inference_id
        self._stream = stream
        self._live = stream.isatty()
        self._shown: tuple[str, float] | None = None

    def update(self, status: str, elapsed: float) -> None:
        line = f"{self._inference_id}: {status}, {format_elapsed(elapsed)} elapsed"
        if self._live:
            # \r back to the line's start, then erase what a longer previous line left.
            self._stream.write(f"\r{line}\x1b[K")
        elif self._shown is None or self._shown[0] != status or elapsed - self._shown[1] >= HEARTBEAT_SECONDS:
            self._stream.write(f"{line}\n")
        else:
            return
        self._stream.flush()
        self._shown = (status, elapsed)

    def close(self) -> None:
        if self._live and self._shown is not None:
            self._stream.write("\n")
            self._stream.flush()
