"""stream: POST /v1/generate/stream through the local gateway to the streaming front, on the emulator."""

from __future__ import annotations

from local.scripted_runtime import ModelStreamError, Part, parts
from tests.streaming.streams import tgi_stream


def test_stream_prints_the_tokens_in_order_then_a_newline_at_done(llm_infer, api_url, emulator):
    body = tgi_stream(["Hello", ",", " wörld", " 😀"])
    emoji = body.index("😀".encode())
    # Parts split inside events and inside a UTF-8 character still give whole tokens.
    scenario = emulator.script(parts(body, cuts=[7, emoji + 2, len(body) - 9]))

    outcome = llm_infer(
        "--api-url", api_url, "stream", "--inputs", scenario.key, "--parameters", '{"max_new_tokens": 4}'
    )

    assert (outcome.exit_code, outcome.stdout, outcome.stderr) == (0, "Hello, wörld 😀\n", "")
    [request] = scenario.requests
    assert request["body"] == {"inputs": scenario.key, "stream": True, "parameters": {"max_new_tokens": 4}}


def test_stream_error_event_exits_1_with_its_code_and_message(llm_infer, api_url, emulator):
    first_event = tgi_stream(["a", "b"]).split(b"\n\n")[0] + b"\n\n"
    scenario = emulator.script([Part(first_event), ModelStreamError("Model invocation timed out")])

    outcome = llm_infer("--api-url", api_url, "stream", "--inputs", scenario.key)

    assert outcome.exit_code == 1
    assert outcome.stdout == "a\n"
    assert outcome.stderr == "error: model_stream_error: Model invocation timed out\n"


def test_stream_refused_before_it_starts_is_an_api_error(llm_infer, api_url, emulator):
    scenario = emulator.script(parts(tgi_stream(["never"]), cuts=[]))

    outcome = llm_infer(
        "--api-url", api_url, "stream", "--inputs", scenario.key, "--parameters", '{"max_new_tokens": 0}'
    )

    assert outcome.exit_code == 1
    assert outcome.stderr == "error: 400 invalid_request: parameters.max_new_tokens must be an integer in [1, 4096]\n"
    assert outcome.stdout == ""
    assert scenario.requests == []
