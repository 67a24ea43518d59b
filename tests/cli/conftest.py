"""CLI test fixtures: the async_api handler and the streaming front behind a local API Gateway.

Underneath are tests/handlers' fixtures (moto in server mode, the stack's resources reset before
each test), registered here as they are, and tests/streaming's event-stream emulator and relay
server. Both suites' fixtures are session- or module-scoped in their own folders; the copies
here are separate instances (another moto server, another emulator), so running every suite
together shares nothing but the process environment, which each restores when it ends.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HANDLER_TESTS = Path(__file__).resolve().parents[1] / "handlers"


def _handler_fixtures():
    # tests/handlers is not a package and its conftest is imported by pytest as `conftest`.
    spec = importlib.util.spec_from_file_location("handler_fixtures_for_cli", HANDLER_TESTS / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_handlers = _handler_fixtures()
moto_url = _handlers.moto_url
aws_environment = _handlers.aws_environment
aws_clients = _handlers.aws_clients
aws = _handlers.aws
async_api_module = _handlers.async_api_module
notifications_module = _handlers.notifications_module
notifications = _handlers.notifications
moto_async_results = _handlers.moto_async_results

# Importable now that the handlers' fixtures put tests/handlers on sys.path.
from handler_harness import ApiGateway  # noqa: E402
from test_inference_lifecycle import completed, failed, sagemaker_writes_output  # noqa: E402

from inference_client.__main__ import main  # noqa: E402
from local.asgi_server import serve  # noqa: E402
from local.gateway import Identity, LocalApiGateway  # noqa: E402
from local.scripted_runtime import SageMakerRuntimeEmulator  # noqa: E402
from tests.streaming import streaming_modules  # noqa: E402

from .callers import ENVIRONMENT_CALLER, OTHER_CALLER  # noqa: E402

STREAMING_ENDPOINT = "streaming-endpoint"


@pytest.fixture(scope="session")
def emulator() -> Iterator[SageMakerRuntimeEmulator]:
    with SageMakerRuntimeEmulator() as running:
        yield running


@pytest.fixture(scope="session")
def streaming_url(aws_environment, emulator) -> Iterator[str]:
    app_module = streaming_modules.load_app_module_apart()
    with pytest.MonkeyPatch.context() as env:
        # Only the streaming front's client goes to the emulator; the async_api's stays on moto.
        env.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", emulator.url)
        settings = streaming_modules.stream_settings.Settings.one_model(STREAMING_ENDPOINT, upstream_max_attempts=1)
        app = app_module.create_app(settings)
    with serve(app) as url:
        yield url


@pytest.fixture(scope="session")
def gateway(async_api_module, streaming_url) -> Iterator[LocalApiGateway]:
    identities = [ENVIRONMENT_CALLER, OTHER_CALLER]
    with LocalApiGateway(ApiGateway(async_api_module), streaming_url, identities) as running:
        yield running


@pytest.fixture
def api_url(aws, gateway) -> str:
    """The stage URL, as the stack's ApiUrl output gives it, in front of an empty moto."""
    gateway.reset()
    return gateway.url


@pytest.fixture
def as_caller(monkeypatch):
    """Run the CLI with another identity's credentials: ``as_caller(OTHER_CALLER)``."""

    def use(identity: Identity) -> None:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", identity.access_key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", identity.secret_key)
        if identity.token is None:
            monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        else:
            monkeypatch.setenv("AWS_SESSION_TOKEN", identity.token)

    return use


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def llm_infer(capsys):
    """Run the CLI in this process: ``llm_infer("--api-url", url, "status", inference_id)``."""

    def run(*argv: str) -> Outcome:
        capsys.readouterr()
        try:
            exit_code = main(list(argv))
        except SystemExit as exit_:
            exit_code = exit_.code
        captured = capsys.readouterr()
        return Outcome(exit_code, captured.out, captured.err)

    return run


class AsyncEndpointStandIn:
    """Acts as SageMaker for the next inference the API records: shortly after the submit, it writes
    the result where the endpoint would and publishes the notification (SNS -> SQS -> the
    notifications handler), from a background thread, while the CLI polls."""

    def __init__(self, aws, notifications, moto_async_results) -> None:
        self._aws = aws
        self._notifications = notifications
        self._moto_async_results = moto_async_results
        self._thread: threading.Thread | None = None
        self._finished: str | None = None
        self._error: BaseException | None = None

    def completes_next(self, result: dict, *, after: float = 0.5) -> None:
        self._moto_async_results({"data": json.dumps(result)})

        def notification(inference_id: str) -> dict:
            return completed(inference_id, sagemaker_writes_output(self._aws, inference_id, prefix="outputs/"))

        self._start(after, notification)

    def fails_next(self, reason: str, *, after: float = 0.5) -> None:
        self._start(after, lambda inference_id: failed(inference_id, reason=reason))

    def join(self) -> str:
        """The id of the inference it finished."""
        self.idle()
        if self._error is not None:
            raise self._error
        assert self._finished is not None, "no inference was recorded to finish"
        return self._finished

    def idle(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _start(self, after: float, notification: Callable[[str], dict]) -> None:
        def finish() -> None:
            try:
                inference_id = self._next_recorded_id()
                time.sleep(after)
                self._notifications.deliver(notification(inference_id))
                self._finished = inference_id
            except BaseException as error:  # re-raised by join() in the test's thread
                self._error = error

        self._thread = threading.Thread(target=finish, daemon=True)
        self._thread.start()

    def _next_recorded_id(self, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            items = self._aws.request_items()
            if items:
                return items[0]["inference_id"]["S"]
            time.sleep(0.05)
        raise TimeoutError("no inference was submitted")


@pytest.fixture
def sagemaker(aws, notifications, moto_async_results) -> Iterator[AsyncEndpointStandIn]:
    stand_in = AsyncEndpointStandIn(aws, notifications, moto_async_results)
    yield stand_in
    # Finished before moto is reset for the next test.
    stand_in.idle()
