"""``make local`` / ``python -m local``: serve the environment's API on this machine until Ctrl-C or SIGTERM.

Environment:
  LOCAL_PORT                 port of the API (default 8080)
  LOCAL_HOST                 address to bind (default 127.0.0.1)
  LOCAL_ACCESS_KEY_ID        key pair callers sign with (SigV4, service execute-api, any region);
  LOCAL_SECRET_ACCESS_KEY    default test / test, the convention of local AWS emulators
  LOCAL_CREDENTIALS          more key pairs, "id:secret,id:secret", one caller identity each
  LOCAL_CONFIG               the environment's config file (default config/dev.yaml)
  LOCAL_TOKENS_PER_SECOND    speed of the model stand-in (default 20; 0 = as fast as possible)
"""

from __future__ import annotations

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
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    stop = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stop.set())
    try:
        api = LocalApi(config, identities, host=environ.get("LOCAL_HOST") or "127.0.0.1", port=port,
                       tokens_per_second=speed)
        with api:
            models = ", ".join(f"{name} ({spec['container_format']})" for name, spec in api.catalog["models"].items())
            print(f"Local API of {config.stage_name} ({config_path.name}) ready at {api.url}", flush=True)
            print(f"  models: {models}; callers: {', '.join(i.access_key for i in identities)}", flush=True)
            print("Try:", flush=True)
            print(example(api.url, api.catalog["default"], identities[0]), flush=True)
            print("Ctrl-C stops it.", flush=True)
            stop.wait()
    except OSError as error:
        print(f"error: cannot start the local API on port {port}: {error.strerror or error}", file=sys.stderr)
        return 1
    print("Local API stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(dict(os.environ)))
