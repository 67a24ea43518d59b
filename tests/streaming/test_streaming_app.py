"""The relay over real HTTP (uvicorn), with boto3 reading the event-stream emulator."""

from __future__ import annotations

import http.client
import json
import time
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.asgi_server import serve
from local.scripted_runtime import InternalStreamFailure, ModelStreamError, Part, Refuse, Stall, parts

from .sse_client import StreamingCall, emf_records
from .streaming_modules import ENDPOINT_NAME, stream_settings
from .streams import legacy_lmi_stream, lmi_error_line, lmi_stream, tgi_stream

PATH = "/v1/generate/stream"


def generate(base_url: str, inputs: str, parameters: dict | None = None) -> StreamingCall:
    document: dict = {"inputs": inputs}
    if parameters is not None:
        document["parameters"] = parameters
    return StreamingCall(base_url, PATH, json.dumps(document).encode())


def wire(call: StreamingCall) -> list[tuple[str, object]]:
    return [(event.event, event.data) for event in call.events()]


def tokens_then_done(texts: list[str], generated_text: str | None = None) -> list[tuple[str, object]]:
    done = "".join(texts) if generated_text is None else generated_text
    return [("message", {"token": t}) for t in texts] + [("done", {"generated_text": done})]


# --- Streams that succeed ---


def test_tgi_stream_is_relayed_token_by_token_then_done(emulator, relay_url):
    scenario = emulator.script(parts(tgi_stream(["Hello", ",", " wörld", " 😀"]), cuts=[]))
    with generate(relay_url, scenario.key, {"max_new_tokens": 4}) as call:
        assert call.status == 200
        assert call.header("content-type") == "text/event-stream; charset=utf-8"
        assert wire(call) == tokens_then_done(["Hello", ",", " wörld", " 😀"])


def test_the_default_models_component_is_invoked_with_a_streaming_body_and_json_content_type(emulator, relay_url):
    scenario = emulator.script(parts(tgi_stream(["a"]), cuts=[]))
    with generate(relay_url, scenario.key, {"temperature": 0.5}) as call:
        wire(call)
    [request] = scenario.requests
    assert request["endpoint"] == "streaming-endpoint"
    assert request["headers"]["content-type"] == "application/json"
    assert request["body"] == {"inputs": scenario.key, "stream": True, "parameters": {"temperature": 0.5}}
    assert request["headers"]["x-amzn-sagemaker-inference-component"] == "streaming-endpoint-chat"


def test_lmi_stream_is_relayed_token_by_token_then_done(emulator, relay_for):
    lmi_url = relay_for(container_format="lmi", inference_component_name="streaming-ic")
    scenario = emulator.script(parts(lmi_stream(["Bonjour", " à", " tous"]), cuts=[]))
    with generate(lmi_url, scenario.key, {"stop": ["."]}) as call:
        assert wire(call) == tokens_then_done(["Bonjour", " à", " tous"])
    [request] = scenario.requests
    assert request["body"] == {"inputs": scenario.key, "stream": True, "parameters": {"stop_sequences": ["."]}}
    assert request["headers"]["x-amzn-sagemaker-inference-component"] == "streaming-ic"


def test_legacy_lmi_outputs_end_with_done_and_null_generated_text(emulator, relay_url):
    scenario = emulator.script(parts(legacy_lmi_stream(["a", "b"]), cuts=[]))
    with generate(relay_url, scenario.key) as call:
        assert wire(call) == [
            ("message", {"token": "a"}), ("message", {"token": "b"}), ("done", {"generated_text": None}),
        ]


def test_parts_split_inside_json_lines_and_utf8_characters_still_relay_whole_tokens(emulator, relay_url):
    body = tgi_stream(["h", "é", "llo", " 😀"])
    emoji, accent = body.index("😀".encode()), body.index("é".encode())
    cuts = [3, accent + 1, emoji + 1, emoji + 2, emoji + 3, len(body) - 7]
    scenario = emulator.script(parts(body, cuts))
    with generate(relay_url, scenario.key) as call:
        assert wire(call) == tokens_then_done(["h", "é", "llo", " 😀"])
    assert scenario.finished.wait(timeout=5)
    assert len(scenario.sent_at) == len(cuts) + 1


def test_each_token_is_sent_as_soon_as_it_arrives(emulator, relay_url):
    first, rest = tgi_stream(["early"]).split(b"\n\n", 1)
    scenario = emulator.script([Part(first + b"\n\n"), Part(rest, delay=1.0)])
    with generate(relay_url, scenario.key) as call:
        events = call.events()
        early = next(events)
        assert early.data == {"token": "early"}
        assert len(scenario.sent_at) < 2, "the first token must reach the caller before the next part is sent"
        assert [e.event for e in events] == ["done"]


# --- Failures after the stream has begun ---


def test_model_stream_error_mid_stream_becomes_an_error_event(emulator, relay_url):
    body = tgi_stream(["a", "b", "c"])
    head = body[: body.index(b"data:", body.index(b"data:") + 1)]  # the first event only
    failure = ModelStreamError("Model invocation timed out", "ModelInvocationTimeExceeded")
    scenario = emulator.script([Part(head), failure])
    with generate(relay_url, scenario.key) as call:
        assert wire(call) == [
            ("message", {"token": "a"}),
            ("error", {"code": "model_stream_error", "message": "Model invocation timed out"}),
        ]


def test_internal_stream_failure_becomes_an_error_event(emulator, relay_url):
    first = lmi_stream(["a", "b"]).split(b"\n")[0] + b"\n"
    scenario = emulator.script([Part(first), InternalStreamFailure("boom")])
    with generate(relay_url, scenario.key) as call:
        assert wire(call) == [
            ("message", {"token": "a"}), ("error", {"code": "internal_stream_failure", "message": "boom"}),
        ]


def test_lmi_error_token_becomes_an_error_event(emulator, relay_url):
    first = lmi_stream(["a", "b"]).split(b"\n")[0] + b"\n"
    scenario = emulator.script(parts(first + lmi_error_line("CUDA error: out of memory"), cuts=[5]))
    with generate(relay_url, scenario.key) as call:
        assert wire(call) == [
            ("message", {"token": "a"}), ("error", {"code": "model_error", "message": "CUDA error: out of memory"}),
        ]


def test_a_stream_that_stops_before_its_final_event_ends_with_an_error_event(emulator, relay_url):
    body = tgi_stream(["a", "b"])
    scenario = emulator.script(parts(body[: body.rindex(b"data:")], cuts=[]))
    with generate(relay_url, scenario.key) as call:
        events = wire(call)
    assert events[:-1] == [("message", {"token": "a"}), ("message", {"token": "b"})]
    assert events[-1][0] == "error" and events[-1][1]["code"] == "incomplete_stream"


def test_garbage_from_the_model_ends_with_an_error_event(emulator, relay_url):
    scenario = emulator.script([Part(b"<html>502 Bad Gateway</html>\n")])
    with generate(relay_url, scenario.key) as call:
        [(name, data)] = wire(call)
    assert name == "error" and data["code"] == "malformed_event"


def test_tokens_sharing_a_part_with_garbage_are_relayed_before_the_error_event(emulator, relay_url):
    good = tgi_stream(["a", "b"]).split(b"\n\n")
    scenario = emulator.script([Part(good[0] + b"\n\n" + good[1] + b"\n\n<html>502 Bad Gateway</html>\n")])
    with generate(relay_url, scenario.key) as call:
        events = wire(call)
    assert events[:2] == [("message", {"token": "a"}), ("message", {"token": "b"})]
    assert [(name, data["code"]) for name, data in events[2:]] == [("error", "malformed_event")]


def test_a_stalled_model_ends_with_a_timeout_error_event_and_the_upstream_is_closed(emulator, relay_for):
    url = relay_for(upstream_read_timeout_seconds=1.0)
    first = tgi_stream(["a", "b"]).split(b"\n\n")[0] + b"\n\n"
    scenario = emulator.script([Part(first), Stall(20)])
    started = time.perf_counter()
    with generate(url, scenario.key) as call:
        events = wire(call)
    assert events == [
        ("message", {"token": "a"}),
        ("error", {"code": "upstream_timeout", "message": "the model sent nothing for 1 seconds"}),
    ]
    assert time.perf_counter() - started < 5
    assert scenario.caller_closed.wait(timeout=3), "the relay must close the stalled upstream"


# --- The caller going away ---


def test_a_caller_that_disconnects_mid_stream_makes_the_relay_close_the_upstream(emulator, relay_url):
    texts = [f" t{i}" for i in range(200)]
    events = [event + b"\n\n" for event in tgi_stream(texts).split(b"\n\n") if event]
    scenario = emulator.script([Part(event, delay=0.02) for event in events])
    call = generate(relay_url, scenario.key)
    events = call.events()
    assert [next(events).data for _ in range(2)] == [{"token": " t0"}, {"token": " t1"}]
    call.close()
    disconnected_at = time.perf_counter()
    assert scenario.caller_closed.wait(timeout=3), "the emulator never saw the relay drop the stream"
    assert scenario.caller_closed_at - disconnected_at < 3
    assert len(scenario.sent_at) < 150


def test_a_caller_that_disconnects_while_the_model_is_silent_closes_the_upstream_at_once(emulator, relay_for):
    # The read timeout is far away: only the disconnect can end this upstream read quickly.
    url = relay_for(upstream_read_timeout_seconds=60.0)
    first = tgi_stream(["a", "b"]).split(b"\n\n")[0] + b"\n\n"
    scenario = emulator.script([Part(first), Stall(30)])
    call = generate(url, scenario.key)
    assert next(call.events()).data == {"token": "a"}
    call.close()
    disconnected_at = time.perf_counter()
    assert scenario.caller_closed.wait(timeout=5), "the relay kept the silent upstream open"
    assert scenario.caller_closed_at - disconnected_at < 2


# --- Refusals before the stream begins ---


@pytest.mark.parametrize(
    ("refusal", "status", "code", "retry_after"),
    [
        (Refuse(429, "ModelNotReadyException", "Model is loading"), 503, "model_not_ready", "60"),
        (Refuse(400, "ValidationError", "Inference Component has no capacity to process this request. "
                "ApplicationAutoScaling may be in-progress (if configured)"), 503, "no_capacity", "60"),
        (Refuse(400, "ValidationError", "Endpoint streaming-endpoint of account 123 not found."), 503,
         "endpoint_unavailable", "60"),
        (Refuse(400, "ThrottlingException", "Rate exceeded"), 429, "throttled", "5"),
        (Refuse(503, "ServiceUnavailable", "Service unavailable"), 503, "service_unavailable", "5"),
        (Refuse(424, "ModelError", "Received server error (500) from primary", {"OriginalStatusCode": 500}),
         502, "model_error", None),
        (Refuse(500, "InternalFailure", "Internal failure"), 502, "upstream_error", None),
        (Refuse(400, "AccessDeniedException", "not authorized"), 502, "upstream_error", None),
    ],
    ids=lambda value: getattr(value, "error_type", None),
)
def test_refusals_before_the_stream_are_json_errors(emulator, relay_url, refusal, status, code, retry_after):
    scenario = emulator.script([refusal])
    with generate(relay_url, scenario.key) as call:
        assert call.status == status
        assert call.header("retry-after") == retry_after
        assert call.header("content-type") == "application/json"
        assert call.json()["error"]["code"] == code


def test_a_container_that_rejects_the_input_gives_the_caller_its_message(emulator, relay_url):
    message = "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096"
    scenario = emulator.script([Refuse(424, "ModelError", "Received client error (422) from primary",
                                       {"OriginalStatusCode": 422, "OriginalMessage": message})])
    with generate(relay_url, scenario.key) as call:
        assert call.status == 422
        assert call.json() == {"error": {"code": "model_rejected_input", "message": message}}


def test_an_unreachable_endpoint_is_a_json_502(relay_for, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "http://127.0.0.1:9")
    url = relay_for()
    with generate(url, "anything") as call:
        assert call.status == 502
        assert call.json()["error"]["code"] == "upstream_unreachable"


# --- The caller's mistakes ---


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"{not json", 400, "malformed_json"),
        (b"", 400, "malformed_json"),
        (b'{"inputs": ""}', 400, "invalid_request"),
        (b'{"inputs": ["a"]}', 400, "invalid_request"),
        (b'{"inputs": "a", "parameters": {"max_new_tokens": 5000}}', 400, "invalid_request"),
        (b'{"inputs": "a", "parameters": {"temprature": 0.5}}', 400, "invalid_request"),
        (b'{"inputs": "' + b"a" * (1024 * 1024) + b'"}', 413, "payload_too_large"),
    ],
    ids=["malformed", "empty", "blank-inputs", "inputs-not-string", "out-of-bounds", "unknown-parameter", "too-large"],
)
def test_bad_requests_get_a_4xx_json_error(relay_url, raw, status, code):
    with StreamingCall(relay_url, PATH, raw) as call:
        assert call.status == status
        error = call.json()["error"]
        assert error["code"] == code
        assert error["message"]


def test_a_body_that_is_not_json_by_content_type_is_415(relay_url):
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    with StreamingCall(relay_url, PATH, b"inputs=a", headers=form) as call:
        assert call.status == 415
        assert call.json()["error"]["code"] == "unsupported_media_type"


def test_unknown_route_is_a_json_404(relay_url):
    with StreamingCall(relay_url, "/v1/generate", b"{}") as call:
        assert call.status == 404
        assert call.json() == {"error": {"code": "not_found", "message": "no route for /v1/generate"}}


def test_wrong_method_is_a_json_405_naming_the_allowed_one(relay_url):
    url = urlsplit(relay_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    connection.request("GET", PATH)
    response = connection.getresponse()
    assert response.status == 405
    assert response.getheader("allow") == "POST"
    assert json.loads(response.read())["error"]["code"] == "method_not_allowed"
    connection.close()


class _BrokenEventStream:
    """An upstream whose reader fails in a way nobody planned for."""

    closed = False

    def __iter__(self):
        yield {"PayloadPart": {"Bytes": b'data:{"token": {"text": "a"}}\n\n'}}
        raise RuntimeError("unexpected")

    def close(self) -> None:
        self.closed = True


class _ClientReturning:
    def __init__(self, body) -> None:
        self.body = body

    def invoke_endpoint_with_response_stream(self, **arguments):
        return {"Body": self.body}


def test_an_unexpected_failure_after_the_stream_began_is_still_an_error_event(app_module):
    upstream = _BrokenEventStream()
    app = app_module.create_app(stream_settings.Settings.one_model(ENDPOINT_NAME),
                                client=_ClientReturning(upstream))
    with serve(app) as url, generate(url, "x") as call:
        assert wire(call) == [
            ("message", {"token": "a"}),
            ("error", {"code": "internal_error", "message": "the streaming front failed unexpectedly"}),
        ]
    assert upstream.closed


# --- Any request body: a documented 4xx before the stream, never a 500 ---

DOCUMENTED_CODES = {
    "malformed_json", "json_too_deep", "number_too_large", "unpaired_surrogate", "invalid_request",
    "payload_too_large", "unsupported_media_type", "ModelNotFound", "ModelNotServedStreaming",
}
request_bodies = st.one_of(
    st.binary(max_size=60),
    st.lists(
        st.sampled_from(['{"inputs": ', '"x"', '"model": ', "NaN", "1e999", '"\\ud800"', "[", "]", "{", "}", ", ",
                         '"parameters": ', '{"max_new_tokens": 5}', "9" * 4400]),
        max_size=14,
    ).map(lambda pieces: "".join(pieces).encode()),
    st.integers(65, 2000).map(lambda depth: b'{"inputs": ' + b"[" * depth + b"]" * depth + b"}"),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=request_bodies,
    content_type=st.sampled_from(["application/json", "text/plain", "application/json; charset=utf-8"]),
)
def test_any_request_body_is_answered_with_a_documented_error_or_a_stream_never_a_500(relay_url, body, content_type):
    with StreamingCall(relay_url, PATH, body, headers={"Content-Type": content_type}) as call:
        if call.status == 200:
            return
        error = call.json()["error"]
        assert call.status != 500, error
        if call.status < 500:
            assert error["code"] in DOCUMENTED_CODES and error["message"]


def test_a_lone_surrogate_from_the_model_is_relayed_as_its_json_escape_with_every_other_token(emulator, relay_url):
    # The model's JSON may hold "\ud800", which is no Unicode character and has no UTF-8 form.
    body = tgi_stream(["a", "LONE", "b"]).replace(b"LONE", b"\\ud800")
    scenario = emulator.script(parts(body, cuts=[]))
    with generate(relay_url, scenario.key) as call:
        raw = call.response.read()
    assert b'data: {"token": "\\ud800"}' in raw
    assert raw.endswith(b'event: done\ndata: {"generated_text": "a\\ud800b"}\n\n')


def test_the_time_to_first_token_is_published_once_per_stream_as_an_embedded_metric(emulator, relay_for, capfd):
    url = relay_for(metrics_namespace="LLMHosting/llm-test")
    events = tgi_stream(["a", "b"]).split(b"\n\n")
    scenario = emulator.script([Part(events[0] + b"\n\n", delay=0.3), Part(b"\n\n".join(events[1:]), delay=0.1)])
    capfd.readouterr()
    with generate(url, scenario.key) as call:
        assert wire(call) == tokens_then_done(["a", "b"])

    [record] = emf_records(capfd.readouterr().out)
    assert record["_aws"]["CloudWatchMetrics"] == [
        {"Namespace": "LLMHosting/llm-test", "Dimensions": [["Model"]],
         "Metrics": [{"Name": "TimeToFirstToken", "Unit": "Milliseconds"}]}
    ]
    assert record["Model"] == "default"
    # Timed from the request's arrival to the first token's send: the model's 0.3 s before its first part.
    assert record["TimeToFirstToken"] >= 300
    assert abs(record["_aws"]["Timestamp"] / 1000 - time.time()) < 60


def test_without_a_metrics_namespace_the_front_prints_no_metric(emulator, relay_url, capfd):
    scenario = emulator.script(parts(tgi_stream(["a"]), cuts=[]))
    capfd.readouterr()
    with generate(relay_url, scenario.key) as call:
        wire(call)
    assert '"_aws"' not in capfd.readouterr().out
