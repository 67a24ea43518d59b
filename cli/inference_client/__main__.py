"""llm-infer: submit to, track, stream and chat with the LLM inference API, signed with your AWS credentials.

Exit codes: 0 done; 1 the API refused, the inference failed or the stream ended in an error;
2 ``wait`` timed out; 3 the command could not run (usage, no API URL, no credentials, API unreachable).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

from inference_client import mirror
from inference_client.api import TERMINAL_STATUSES, ApiError, InferenceApi
from inference_client.progress import WaitProgress, describe_hold, describe_status, format_elapsed
from inference_client.signing import (
    MissingCredentials,
    SignedClient,
    Unreachable,
    new_http,
    region_in_url,
    require_credentials,
)

EXIT_OK, EXIT_FAILED, EXIT_TIMED_OUT, EXIT_CANNOT_RUN = 0, 1, 2, 3
API_URL_VARIABLE = "LLM_API_URL"


class CannotRun(Exception):
    """The command cannot start: no API given, a stack without its output, a region unknown."""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except ApiError as error:
        return _fail(str(error), EXIT_FAILED)
    except (CannotRun, MissingCredentials, Unreachable) as error:
        return _fail(str(error), EXIT_CANNOT_RUN)
    except BotoCoreError as error:
        # A profile that does not exist, an SSO session that expired, a role that cannot be assumed.
        return _fail(f"AWS: {error}", EXIT_CANNOT_RUN)
    except BrokenPipeError:
        # The reader went away (`llm-infer stream ... | head`): stop quietly, as cat would.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except OSError as error:
        return _fail(str(error), EXIT_CANNOT_RUN)
    except KeyboardInterrupt:
        return 130


def submit(args: argparse.Namespace) -> int:
    if args.file is not None and args.parameters is not None:
        raise CannotRun("--parameters goes with --inputs; with --file, put the parameters in the file")
    api = _connect(args)
    payload = {"input_location": api.upload(args.file)} if args.file is not None else _inline_request(args)
    payload.update(_model(args))
    answer = api.submit(payload, idempotency_key=args.idempotency_key)
    if args.wait:
        print(f"submitted {answer['inference_id']}", file=sys.stderr)
        return _wait_for(api, answer["inference_id"], args)
    print(json.dumps(answer, indent=2) if args.json else answer["inference_id"])
    return EXIT_OK


def status(args: argparse.Namespace) -> int:
    print(json.dumps(_connect(args).status(args.inference_id), indent=2))
    return EXIT_OK


def models(args: argparse.Namespace) -> int:
    print(json.dumps(_connect(args).models(), indent=2))
    return EXIT_OK


def mirror_model(args: argparse.Namespace) -> int:
    """Copy a Hub model at a pinned commit into the model bucket, then print its catalog entry."""
    session = boto3.Session(profile_name=args.profile, region_name=args.region)
    require_credentials(session)
    try:
        repository = mirror.HubRepository(
            new_http(), args.hub_url, args.model_id, args.revision, token=os.environ.get("HF_TOKEN") or None
        )
    except mirror.MirrorError as error:
        raise CannotRun(str(error)) from None
    prefix = args.prefix or mirror.default_prefix(args.model_id, args.revision)
    if not prefix.endswith("/"):
        raise CannotRun(f"--prefix must end with '/' (got {prefix!r})")
    s3 = session.client("s3")
    try:
        files = mirror.selected(repository.files(), args.include or [], args.exclude or [])
        if not files:
            raise mirror.MirrorError("no file of the model matches --include/--exclude")

        def report(done: mirror.MirroredFile) -> None:
            verb = "copied" if done.uploaded else "already there"
            print(f"{verb}: {done.path} ({done.size} bytes, verified)", file=sys.stderr)

        mirror.mirror(repository, files, s3=s3, bucket=args.bucket, prefix=prefix, on_file=report)
        key_arn = mirror.bucket_key_arn(s3, args.bucket)
    except mirror.MirrorError as error:
        return _fail(str(error), EXIT_FAILED)
    except (BotoCoreError, ClientError) as error:
        return _fail(f"S3: {error}", EXIT_FAILED)
    name = args.name or args.model_id.split("/", 1)[1].lower().replace(".", "-")[:20]
    print(f"# {args.model_id} at {args.revision}, {len(files)} files verified; paste under 'models:'")
    print(mirror.config_block(name, args.bucket, prefix, key_arn, mirror.weights_gib(files)), end="")
    return EXIT_OK


def wait(args: argparse.Namespace) -> int:
    return _wait_for(_connect(args), args.inference_id, args)


def stream(args: argparse.Namespace) -> int:
    out = sys.stdout
    printed = False
    for event in _connect(args).generate_stream({**_inline_request(args), **_model(args)}):
        data = _json_object(event.data)
        if event.event == "message" and isinstance(data.get("token"), str):
            out.write(data["token"])
            out.flush()
            printed = True
        elif event.event == "status":
            print(describe_hold(data), file=sys.stderr)
        elif event.event == "done":
            out.write("\n")
            out.flush()
            return EXIT_OK
        elif event.event == "error":
            if printed:
                out.write("\n")
            return _fail(f"{data.get('code', 'unknown')}: {data.get('message', event.data)}", EXIT_FAILED)
    if printed:
        out.write("\n")
    return _fail("the stream ended before its done event", EXIT_FAILED)


def chat(args: argparse.Namespace) -> int:
    """A conversation on stdin/stdout through POST /v1/chat/completions; one line is one turn."""
    api = _connect(args)
    model = args.model or _streaming_model(api)
    messages = [{"role": "system", "content": args.system}] if args.system else []
    options = {name: value for name, value in (("max_tokens", args.max_tokens), ("temperature", args.temperature))
               if value is not None}
    interactive = sys.stdin.isatty()
    if interactive:
        print(f"chatting with {model}; an empty line or Ctrl-D ends the conversation", file=sys.stderr)
    failed = False
    while True:
        if interactive:
            print("you> ", end="", file=sys.stderr, flush=True)
        line = sys.stdin.readline()
        if not line.strip():
            return EXIT_FAILED if failed else EXIT_OK
        messages.append({"role": "user", "content": line.rstrip("\n")})
        try:
            answer = _chat_turn(api, {"model": model, "messages": messages, **options})
        except ApiError as error:
            # One refused turn does not end the conversation; it is left out of the history.
            messages.pop()
            failed = True
            _fail(str(error), EXIT_FAILED)
            continue
        messages.append({"role": "assistant", "content": answer})


def _chat_turn(api: InferenceApi, request: dict) -> str:
    out, parts = sys.stdout, []
    try:
        for event in api.chat_stream(request):
            if event.data == "[DONE]":
                return "".join(parts)
            data = _json_object(event.data)
            if isinstance(data.get("error"), dict):
                error = data["error"]
                raise ApiError(200, str(error.get("code") or "stream_error"), str(error.get("message", event.data)))
            for choice in data.get("choices") or []:
                content = (choice.get("delta") or {}).get("content")
                if isinstance(content, str):
                    out.write(content)
                    out.flush()
                    parts.append(content)
        raise ApiError(200, "incomplete_stream", "the stream ended before its [DONE] event")
    finally:
        if parts:
            out.write("\n")
            out.flush()


def _streaming_model(api: InferenceApi) -> str:
    """The API's default model when it streams, else the first model that does."""
    streaming = [model for model in api.models()["data"] if "streaming" in model.get("modes", ())]
    if not streaming:
        raise CannotRun("this API serves no streaming model; chat needs one")
    return next((model["id"] for model in streaming if model.get("default")), streaming[0]["id"])


def _wait_for(api: InferenceApi, inference_id: str, args: argparse.Namespace) -> int:
    progress = WaitProgress(inference_id, sys.stderr)
    started = time.monotonic()
    try:
        while True:
            answer = api.status(inference_id)
            elapsed = time.monotonic() - started
            progress.update(describe_status(answer), elapsed)
            if answer["status"] in TERMINAL_STATUSES or elapsed >= args.timeout:
                break
            time.sleep(min(args.interval, args.timeout - elapsed))
    finally:
        progress.close()
    if answer["status"] not in TERMINAL_STATUSES:
        return _fail(
            f"inference {inference_id} is still {answer['status']} after {format_elapsed(elapsed)}; "
            f"run `llm-infer wait {inference_id}` to keep waiting",
            EXIT_TIMED_OUT,
        )
    if answer["status"] == "Failed":
        return _fail(f"inference {inference_id} failed: {answer.get('failure_reason')}", EXIT_FAILED)
    if "output_url" not in answer:
        return _fail(f"inference {inference_id} completed but the API gave no output_url", EXIT_FAILED)
    if args.output is not None:
        with args.output.open("wb") as sink:
            size = api.download(answer["output_url"], sink)
        print(f"saved {size} bytes to {args.output}", file=sys.stderr)
    else:
        sys.stdout.flush()
        api.download(answer["output_url"], sys.stdout.buffer)
        sys.stdout.buffer.flush()
    return EXIT_OK


def _inline_request(args: argparse.Namespace) -> dict:
    return {"inputs": args.inputs, **({"parameters": args.parameters} if args.parameters is not None else {})}


def _model(args: argparse.Namespace) -> dict:
    return {"model": args.model} if args.model else {}


def _connect(args: argparse.Namespace) -> InferenceApi:
    session = boto3.Session(profile_name=args.profile, region_name=args.region)
    credentials = require_credentials(session)
    api_url = _api_url(args, session)
    region = region_in_url(api_url) or session.region_name
    if region is None:
        raise CannotRun(f"cannot tell the region of {api_url} from its host: pass --region")
    return InferenceApi(SignedClient(api_url, credentials=credentials, region=region, http=new_http()))


def _api_url(args: argparse.Namespace, session: boto3.Session) -> str:
    if args.api_url and args.stack:
        raise CannotRun("pass --api-url or --stack, not both")
    url = args.api_url or (_stack_api_url(session, args.stack) if args.stack else os.environ.get(API_URL_VARIABLE))
    if not url:
        raise CannotRun(f"no API given: pass --api-url URL or --stack NAME, or set {API_URL_VARIABLE}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CannotRun(f"the API URL must be an http(s) URL such as the stack's ApiUrl output; got {url!r}")
    return url


def _stack_api_url(session: boto3.Session, stack: str) -> str:
    try:
        [description] = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    except NoRegionError:
        raise CannotRun(f"no AWS region to look for stack {stack} in: pass --region or set AWS_REGION") from None
    except ClientError as error:
        raise CannotRun(f"cannot read stack {stack}: {error.response['Error'].get('Message', error)}") from None
    outputs = {output["OutputKey"]: output["OutputValue"] for output in description.get("Outputs", [])}
    if "ApiUrl" not in outputs:
        raise CannotRun(f"stack {stack} has no ApiUrl output (the API stack is named <resource_prefix>-api)")
    return outputs["ApiUrl"]


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# --- Command line ---


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        # argparse exits 2, which here means that `wait` timed out.
        self.print_usage(sys.stderr)
        self.exit(EXIT_CANNOT_RUN, f"{self.prog}: error: {message}\n")


def _parameters(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not JSON: {error}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError('must be a JSON object, such as \'{"max_new_tokens": 64}\'')
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def _api_options(*, on_command: bool) -> argparse.ArgumentParser:
    """Accepted before or after the command; after it, an option overrides the one before."""
    default = argparse.SUPPRESS if on_command else None
    options = _Parser(add_help=False)
    group = options.add_argument_group("API and credentials")
    group.add_argument(
        "--api-url", default=default, help=f"the API's stage URL (the ApiUrl output); or set {API_URL_VARIABLE}"
    )
    group.add_argument("--stack", default=default, help="use this stack's ApiUrl output, e.g. llm-dev-api")
    group.add_argument(
        "--region", default=default, help="region of the stack, and of an API on a custom domain (default: AWS config)"
    )
    group.add_argument("--profile", default=default, help="AWS profile (default: AWS_PROFILE or the default chain)")
    return options


def _wait_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=_seconds, default=1800.0, help="give up (exit 2) after this many seconds")
    parser.add_argument("--interval", type=_seconds, default=5.0, help="seconds between two status checks")
    parser.add_argument("--output", type=Path, help="save the output here instead of printing it")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="llm-infer",
        description=__doc__,
        parents=[_api_options(on_command=False)],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    on_command = [_api_options(on_command=True)]

    command = commands.add_parser("submit", parents=on_command, help="submit an async inference; prints its id")
    payload = command.add_mutually_exclusive_group(required=True)
    payload.add_argument("--inputs", help="the prompt, sent inline")
    payload.add_argument("--file", type=Path, help="a JSON payload file, uploaded to S3 first (up to 1 GB)")
    command.add_argument("--parameters", type=_parameters, help="generation parameters (JSON object), with --inputs")
    command.add_argument("--idempotency-key", help="the same key and body within 24 h submit only once")
    command.add_argument("--model", help="a model the API lists (llm-infer models); default: the API's default")
    then = command.add_mutually_exclusive_group()
    then.add_argument("--json", action="store_true", help="print the whole answer as JSON")
    then.add_argument("--wait", action="store_true", help="then wait for the output, as the wait command does")
    _wait_options(command)
    command.set_defaults(run=submit)

    command = commands.add_parser("status", parents=on_command, help="print an inference's status as JSON")
    command.add_argument("inference_id")
    command.set_defaults(run=status)

    command = commands.add_parser("wait", parents=on_command, help="wait for the output, then print or save it")
    command.add_argument("inference_id")
    _wait_options(command)
    command.set_defaults(run=wait)

    command = commands.add_parser("stream", parents=on_command, help="generate token by token (streaming endpoint)")
    command.add_argument("--inputs", required=True, help="the prompt")
    command.add_argument("--parameters", type=_parameters, help="generation parameters (JSON object)")
    command.add_argument("--model", help="a streaming model the API lists; default: the API's default")
    command.set_defaults(run=stream)

    command = commands.add_parser("models", parents=on_command, help="list the API's models and their modes as JSON")
    command.set_defaults(run=models)

    command = commands.add_parser(
        "mirror",
        parents=on_command,
        help="copy a Hub model at a pinned commit into the model bucket, verifying every file",
        description=(
            "Copies every file of MODEL_ID at --revision into --bucket (the ModelBucketName output of the "
            "<resource_prefix>-async-inference stack), checking each against the Hub's hashes, and prints the "
            "catalog entry to paste. Set HF_TOKEN for a gated model: it is sent to the Hub only."
        ),
    )
    command.add_argument("model_id", help="the Hub model, e.g. Qwen/Qwen2.5-7B-Instruct")
    command.add_argument("--revision", required=True, help="the commit sha to mirror (40 hex characters)")
    command.add_argument("--bucket", required=True, help="the environment's model bucket")
    command.add_argument("--prefix", help="key prefix ending in '/' (default: hub/<model id>/<revision>/)")
    command.add_argument("--name", help="the model's name in the printed catalog entry")
    command.add_argument("--include", action="append", help="only files matching this glob (repeatable)")
    command.add_argument("--exclude", action="append", help="skip files matching this glob (repeatable)")
    command.add_argument(
        "--hub-url", default=os.environ.get("HF_ENDPOINT", "https://huggingface.co"), help="the Hub (default: HF_ENDPOINT)"
    )
    command.set_defaults(run=mirror_model)

    command = commands.add_parser(
        "chat", parents=on_command, help="chat in the terminal, streamed (POST /v1/chat/completions)"
    )
    command.add_argument("--model", help="a model of GET /v1/models (default: the API's default if it streams)")
    command.add_argument("--system", help="a system message that opens the conversation")
    command.add_argument("--max-tokens", type=int, help="longest answer, in tokens")
    command.add_argument("--temperature", type=float, help="sampling temperature, 0 to 2")
    command.set_defaults(run=chat)

    return parser


if __name__ == "__main__":
    sys.exit(main())
