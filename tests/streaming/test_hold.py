"""A stream to a model at zero copies is held, not refused: the relay over real HTTP, boto3 against the
event-stream emulator, the wake against moto's CloudWatch and the local scale-to-zero stand-in."""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time

import boto3
import pytest
from moto.server import ThreadedMotoServer

from local.asgi_server import serve
from .streaming_modules import ENDPOINT_NAME
from .sse_client import StreamingCall, emf_records
from .streaming_modules import ROOT, load_app_module, stream_settings
from .streams import lmi_chat_stream, tgi_stream
from local.scripted_runtime import Refuse, parts

sys.path.insert(0, str(ROOT))

from local.scale_to_zero import ScaleToZeroStandIn  # noqa: E402

PATH = "/v1/generate/stream"
COLD_START_SECONDS = 1.0
_components = itertools.count()


@pytest.fixture(scope="module")
def moto_url(streaming_environment):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def stand_in(streaming_environment, moto_url, emulator):
    cloudwatch = boto3.client("cloudwatch", endpoint_url=moto_url)
    with ScaleToZeroStandIn(cloudwatch_client=cloudwatch, cold_start_seconds=COLD_START_SECONDS) as running:
        streaming_environment.setenv("AWS_ENDPOINT_URL_SAGEMAKER", running.url)
        streaming_environment.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", moto_url)
        emulator.gate_capacity(running.has_capacity)
        yield running
        emulator.gate_capacity(None)


@pytest.fixture
def cold_model(stand_in, app_module):
    """A fresh inference component at zero copies, and a relay (one function container) for it."""
    name = f"chat-{next(_components)}"
    stand_in.add_inference_component(name, endpoint_name=ENDPOINT_NAME)

    def relay(**overrides) -> str:
        settings = stream_settings.Settings.one_model(
            ENDPOINT_NAME,
            inference_component_name=name,
            upstream_max_attempts=1,
            scale_to_zero=True,
            **{"max_hold_seconds": 20.0, "hold_keepalive_seconds": 0.2, "hold_poll_seconds": 0.05, **overrides},
        )
        context = serve(app_module.create_app(settings))
        contexts.append(context)
        return context.__enter__()

    contexts: list = []
    yield name, relay
    for context in reversed(contexts):
        context.__exit__(None, None, None)


def generate(base_url: str, inputs: str) -> StreamingCall:
    return StreamingCall(base_url, PATH, json.dumps({"inputs": inputs}).encode())


def test_stream_to_a_cold_model_succeeds_without_a_client_retry(emulator, cold_model):
    name, relay = cold_model
    url = relay()
    scenario = emulator.script(parts(tgi_stream(["Hello", " world"]), [10]))

    with generate(url, scenario.key) as call:
        assert call.status == 200
        events = [(e.event, e.data) for e in call.events()]

    assert events[-3:] == [("message", {"token": "Hello"}), ("message", {"token": " world"}),
                           ("done", {"generated_text": "Hello world"})]
    assert len(scenario.requests) == 1


def test_held_response_starts_at_once_and_keeps_the_connection_alive(emulator, cold_model, stand_in):
    name, relay = cold_model
    url = relay()
    scenario = emulator.script(parts(tgi_stream(["Hi"]), []))

    with generate(url, scenario.key) as call:
        still_cold_when_the_response_started = not stand_in.has_capacity(name)
        events = list(call.events())

    assert still_cold_when_the_response_started
    first_token_at = next(e.received_at for e in events if e.event == "message")
    # Keep-alives every 0.2 s while a 1 s start runs: the connection never sits silent.
    assert len([c for c in call.comments if c < first_token_at]) >= 2


def test_held_stream_reports_waking_with_seconds_elapsed(emulator, cold_model):
    _, relay = cold_model
    url = relay()
    scenario = emulator.script(parts(tgi_stream(["Hi"]), []))

    with generate(url, scenario.key) as call:
        statuses = [e.data for e in call.events() if e.event == "status"]

    assert statuses and {s["state"] for s in statuses} == {"waking"}
    assert statuses[0]["elapsed_seconds"] == 0
    assert [s["elapsed_seconds"] for s in statuses] == sorted(s["elapsed_seconds"] for s in statuses)


def test_two_concurrent_cold_requests_cause_one_wake(emulator, cold_model, stand_in):
    name, relay = cold_model
    url = relay()
    scenarios = [emulator.script(parts(tgi_stream([f"t{i}"]), [])) for i in range(2)]
    results: list[list] = [[], []]

    def call(index: int) -> None:
        with generate(url, scenarios[index].key) as streaming:
            results[index] = [e.event for e in streaming.events()]

    threads = [threading.Thread(target=call, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert [r[-1] for r in results] == ["done", "done"]
    assert stand_in.wakes(name) == 1 and stand_in.desired_copies(name) == 1


def test_a_model_that_does_not_start_in_time_ends_with_capacity_timeout(emulator, stand_in, app_module):
    stand_in.add_inference_component("slow-chat", endpoint_name=ENDPOINT_NAME, cold_start_seconds=60)
    settings = stream_settings.Settings.one_model(
        ENDPOINT_NAME, inference_component_name="slow-chat", upstream_max_attempts=1,
        scale_to_zero=True, max_hold_seconds=0.5, hold_keepalive_seconds=0.2, hold_poll_seconds=0.05,
    )
    scenario = emulator.script(parts(tgi_stream(["never"]), []))

    with serve(app_module.create_app(settings)) as url, generate(url, scenario.key) as call:
        events = list(call.events())

    assert events[-1].event == "error" and events[-1].data["code"] == "capacity_timeout"
    assert scenario.requests == []


def test_a_caller_that_disconnects_stops_the_wait(emulator, cold_model, stand_in):
    _, relay = cold_model
    url = relay()
    scenario = emulator.script(parts(tgi_stream(["unread"]), []))

    call = generate(url, scenario.key)
    next(iter(call.events()))
    call.close()
    time.sleep(COLD_START_SECONDS + 0.5)

    # The copy arrived meanwhile, but nobody was waiting for it: the request was never sent.
    assert scenario.requests == []


def test_a_warm_model_streams_without_waking(emulator, cold_model, stand_in):
    name, relay = cold_model
    stand_in.set_copies(name, 1)
    time.sleep(COLD_START_SECONDS + 0.1)
    url = relay()
    scenario = emulator.script(parts(tgi_stream(["warm"]), []))

    with generate(url, scenario.key) as call:
        assert [e.event for e in call.events()] == ["message", "done"]
        assert call.comments == []
    assert stand_in.wakes(name) == 0


def test_a_model_that_refuses_once_woken_ends_the_held_stream_with_its_error(emulator, cold_model):
    _, relay = cold_model
    url = relay()
    scenario = emulator.script([Refuse(424, "ModelError", "the container crashed")])

    with generate(url, scenario.key) as call:
        events = list(call.events())

    assert call.status == 200
    assert events[-1].event == "error" and events[-1].data["code"] == "model_error"
    assert len(scenario.requests) == 1


def test_a_held_request_wakes_the_component_of_the_model_it_names_only(emulator, stand_in, app_module):
    from inference_common.catalog import ModelCatalog

    names = {"first": f"first-{next(_components)}", "second": f"second-{next(_components)}"}
    for component in names.values():
        stand_in.add_inference_component(component, endpoint_name=ENDPOINT_NAME)
    catalog = ModelCatalog.from_dict({
        "default": "first",
        "models": {
            model: {"container_format": "tgi",
                    "streaming": {"endpoint_name": ENDPOINT_NAME, "inference_component_name": component}}
            for model, component in names.items()
        },
    })
    settings = stream_settings.Settings(
        catalog=catalog, upstream_max_attempts=1, scale_to_zero=True,
        hold_keepalive_seconds=0.2, hold_poll_seconds=0.05,
    )
    scenario = emulator.script(parts(tgi_stream(["Hi"]), []))

    with serve(app_module.create_app(settings)) as url, StreamingCall(
        url, PATH, json.dumps({"inputs": scenario.key, "model": "second"}).encode()
    ) as call:
        assert [e.event for e in call.events()][-1] == "done"

    assert (stand_in.wakes(names["second"]), stand_in.wakes(names["first"])) == (1, 0)
    assert scenario.requests[0]["headers"]["x-amzn-sagemaker-inference-component"] == names["second"]


def test_a_chat_completion_stream_to_a_cold_model_is_an_ordinary_stream_that_starts_later(emulator, cold_model):
    _, relay = cold_model
    url = relay(container_format="lmi")
    scenario = emulator.script(parts(lmi_chat_stream(["Hi", " there"]), []))
    body = {"model": "default", "messages": [{"role": "user", "content": scenario.key}], "stream": True}

    with StreamingCall(url, "/v1/chat/completions", json.dumps(body).encode()) as call:
        raw = call.response.read()

    # Comments only while held (SSE clients, the openai SDK included, skip them), then OpenAI chunks.
    assert b"event:" not in raw and raw.startswith(b": keep-alive")
    data = [line.removeprefix(b"data: ") for line in raw.split(b"\n\n") if line.startswith(b"data: ")]
    assert [json.loads(d)["choices"][0]["delta"].get("content") for d in data[:-1]] == ["Hi", " there", None]
    assert data[-1] == b"[DONE]"


def test_a_one_shot_chat_completion_to_a_cold_model_is_a_503_that_starts_the_wake(emulator, cold_model, stand_in):
    name, relay = cold_model
    url = relay(container_format="lmi")
    body = {"model": "default", "messages": [{"role": "user", "content": "hi"}], "stream": False}

    with StreamingCall(url, "/v1/chat/completions", json.dumps(body).encode()) as call:
        assert call.status == 503 and call.header("retry-after")
        assert call.json()["error"]["type"]

    # The stand-in's step policy acts on the alarm state as Application Auto Scaling does: on its next look.
    deadline = time.monotonic() + 10
    while stand_in.wakes(name) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stand_in.wakes(name) == 1 and stand_in.desired_copies(name) == 1


def test_a_held_streams_time_to_first_token_counts_the_wait_for_its_copy(emulator, cold_model, capfd):
    _, relay = cold_model
    url = relay(metrics_namespace="LLMHosting/llm-test")
    scenario = emulator.script(parts(tgi_stream(["a"]), []))
    capfd.readouterr()
    with generate(url, scenario.key) as call:
        assert [e.event for e in call.events()][-1] == "done"

    [record] = emf_records(capfd.readouterr().out)
    assert record["TimeToFirstToken"] >= COLD_START_SECONDS * 1000
