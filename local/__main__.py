"""``make local`` / ``python -m local``: serve the environment's API on this machine until Ctrl-C or SIGTERM.

Environment:
  LOCAL_PORT                 port of the API (default 8080)
  LOCAL_HOST                 address to bind (default 127.0.0.1)
  LOCAL_ACCESS_KEY_ID        key pair callers sign with (SigV4, service execute-api, any region);
  LOCAL_SECRET_ACCESS_KEY    default test / test, the convention of local AWS emulators
  LOCAL_CREDENTIALS          more key pairs, "id:secret,id:secret", one caller identity each
  LOCAL_CONFIG               the environment's config file (default config/dev.yaml)
  LOCAL_TOKENS_PER_SECOND    speed of the model stand-in (default 20; 0 = as fast as possible)
  LOCAL_COLD_START_SECONDS   start models at zero capacity, woken as in AWS, capacity arriving this
                             many seconds after the wake: "5" (every model) or "chat=5,small=2"
                             (the models named; the others start warm); unset: every model warm
  LOCAL_MAX_HOLD_SECONDS     how long a stream to a cold model is held before capacity_timeout
                             (default: the config's streaming_endpoint.max_hold_seconds)
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class UsageError(Exception):
    pass


def identities_from(environ: dict[str, str]):
    from local.gateway import Identity

    pairs = [(environ.get("LOCAL_ACCESS_KEY_ID") or "test", environ.get("LOCAL_SECRET_ACCESS_KEY") or "test")]
    for entry in filter(None, (item.strip() for item in environ.get("LOCAL_CREDENTIALS", "").split(","))):
        key, separator, secret = entry.partition(":")
        if not separator or not key or not secret:
            raise UsageError(f"LOCAL_CREDENTIALS: {entry!r} is not of the form access-key-id:secret")
        pairs.append((key, secret))
    return [Identity(key, secret) for key, secret in pairs]


def _number(environ: dict[str, str], name: str, default: float, *, integer: bool = False) -> float:
    raw = environ.get(name) or str(default)
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise UsageError(f"{name} must be a{'n integer' if integer else ' number'}, got {raw!r}") from None
    if value < 0:
        raise UsageError(f"{name} must not be negative, got {raw!r}")
    return value


def cold_starts_from(environ: dict[str, str], models: list[str]) -> dict[str, float]:
    """LOCAL_COLD_START_SECONDS as model name -> start seconds: "5" for every model, "chat=5,small=2" per model."""
    raw = (environ.get("LOCAL_COLD_START_SECONDS") or "").strip()
    if not raw:
        return {}
    if "=" not in raw:
        seconds = _number({"LOCAL_COLD_START_SECONDS": raw}, "LOCAL_COLD_START_SECONDS", 0.0)
        return dict.fromkeys(models, seconds)
    starts: dict[str, float] = {}
    for entry in filter(None, (item.strip() for item in raw.split(","))):
        name, separator, value = (part.strip() for part in entry.partition("="))
        if not separator:
            raise UsageError(f"LOCAL_COLD_START_SECONDS: {entry!r} is not of the form model=seconds")
        if name not in models:
            near = difflib.get_close_matches(name, models, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise UsageError(
                f"LOCAL_COLD_START_SECONDS: no model {name!r} in the config{hint}; models: {', '.join(models)}"
            )
        label = f"LOCAL_COLD_START_SECONDS ({name})"
        starts[name] = _number({label: value}, label, 0.0)
    return starts


def example(url: str, model: str, identity) -> str:
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Hello!"}], "stream": True})
    return f"""\
  curl -N --aws-sigv4 "aws:amz:us-east-1:execute-api" --user "{identity.access_key}:{identity.secret_key}" \\
    -H 'Content-Type: application/json' -d '{body}' \\
    {url}v1/chat/completions

  python: openai.OpenAI(base_url="{url}v1", api_key="unused",
            http_client=httpx.Client(auth=inference_client.SigV4Auth(region="us-east-1")))
          with AWS_ACCESS_KEY_ID={identity.access_key} AWS_SECRET_ACCESS_KEY={identity.secret_key}"""


def main(environ: dict[str, str]) -> int:
    sys.path.insert(0, str(ROOT))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # moto's server logs every request it serves at INFO.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # The streaming front's hold says when it holds a caller and when a held caller leaves.
    logging.getLogger("hold").setLevel(logging.INFO)
    try:
        identities = identities_from(environ)
        port = int(_number(environ, "LOCAL_PORT", 8080, integer=True))
        speed = _number(environ, "LOCAL_TOKENS_PER_SECOND", 20.0)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    from local.api import LocalApi
    from stacks.config import ConfigError, load_environment_config

    config_path = Path(environ.get("LOCAL_CONFIG") or ROOT / "config" / "dev.yaml")
    try:
        config = load_environment_config(config_path)
        cold_start = cold_starts_from(environ, list(config.models))
        max_hold = _number(environ, "LOCAL_MAX_HOLD_SECONDS", 0.0) or None
    except (ConfigError, UsageError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    stop = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stop.set())
    try:
        api = LocalApi(config, identities, host=environ.get("LOCAL_HOST") or "127.0.0.1", port=port,
                       tokens_per_second=speed, cold_start=cold_start, max_hold_seconds=max_hold)
        with api:
            models = ", ".join(f"{name} ({spec['container_format']})" for name, spec in api.catalog["models"].items())
            print(f"Local API of {config.stage_name} ({config_path.name}) ready at {api.url}", flush=True)
            print(f"  models: {models}; callers: {', '.join(i.access_key for i in identities)}", flush=True)
            if cold_start:
                starts = ", ".join(f"{name} {seconds:g} s" for name, seconds in cold_start.items())
                print(f"  at zero capacity, woken by the first request (start time): {starts}", flush=True)
            print("Try:", flush=True)
            print(example(api.url, api.catalog["default"], identities[0]), flush=True)
            print("Ctrl-C stops it.", flush=True)
            # With a timeout: a signal that the kernel hands to one of the stand-ins' threads only
            # flags Python's main thread, which runs its handler when it next runs bytecode; a
            # wait with no timeout would sleep through Ctrl-C and SIGTERM.
            while not stop.wait(timeout=0.2):
                pass
    except OSError as error:
        print(f"error: cannot start the local API on port {port}: {error.strerror or error}", file=sys.stderr)
        return 1
    print("Local API stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(dict(os.environ)))
