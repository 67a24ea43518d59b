"""The local mode, started once per test session as `make local` starts it (`python -m local`),
in a process of its own, with two callers' key pairs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from inference_client import SigV4Auth

ROOT = Path(__file__).resolve().parents[2]
ALICE = ("alice-key", "alice-secret")
BOB = ("bob-key", "bob-secret")
MODEL = "chat"
"""config/dev.yaml's default model (LMI, async and streaming); it also serves "small" (streaming only)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def local_environment(port: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    environment.update(
        LOCAL_PORT=str(port),
        LOCAL_ACCESS_KEY_ID=ALICE[0],
        LOCAL_SECRET_ACCESS_KEY=ALICE[1],
        LOCAL_CREDENTIALS=":".join(BOB),
        LOCAL_TOKENS_PER_SECOND="0",
    )
    environment.update(extra or {})
    return environment


class LocalProcess:
    """`python -m local` in a process of its own; its output is collected as it comes.
    ``environment`` adds to (or overrides) the variables it is started with."""

    def __init__(self, port: int, environment: dict[str, str] | None = None) -> None:
        self.url = f"http://127.0.0.1:{port}/api/"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local"], cwd=ROOT, env=local_environment(port, environment),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: list[str] = []
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_ready(self, timeout: float = 60) -> float:
        """Seconds from start to the ready banner; fails the test if it never comes."""
        started = time.monotonic()
        if not self._ready.wait(timeout) or self.process.poll() is not None:
            self.process.kill()
            pytest.fail(f"the local mode did not start: {self.output}")
        return time.monotonic() - started

    def stop(self, signal_number: int = signal.SIGTERM, timeout: float = 30) -> int:
        # A stop takes 2-3 s (the stand-ins' servers poll for shutdown); the rest is slack for a loaded CI machine.
        self.process.send_signal(signal_number)
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)
            if "Ctrl-C stops it." in line:
                self._ready.set()


@pytest.fixture(scope="session")
def local_api() -> Iterator[LocalProcess]:
    running = LocalProcess(free_port())
    running.wait_ready()
    yield running
    running.stop()


@pytest.fixture
def caller_credentials(monkeypatch):
    """Point botocore's credential chain at one caller's key pair: ``caller_credentials(ALICE)``."""

    def use(pair: tuple[str, str]) -> None:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", pair[0])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", pair[1])
        monkeypatch.setenv("AWS_REGION", "eu-west-1")

    use(ALICE)
    return use


@pytest.fixture
def signed_http(caller_credentials) -> Iterator[httpx.Client]:
    with httpx.Client(auth=SigV4Auth(), timeout=30) as client:
        yield client
