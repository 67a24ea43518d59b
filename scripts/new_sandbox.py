#!/usr/bin/env python3
"""Write a developer's personal environment from config/templates/sandbox.yaml (`make sandbox NAME=alice`).

The file, config/sandbox-<name>.yaml, is ignored by git: a sandbox is personal, deployed from a
laptop with `make deploy STAGE=Sandbox<Name>`, and never by the pipeline (`sandbox: true`).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from string import Template

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stacks.config import CONFIG_DIR, ConfigError, load_environments, parse_environment_config  # noqa: E402

TEMPLATE = CONFIG_DIR / "templates" / "sandbox.yaml"
# stage_name allows 16 characters ("Sandbox" + 9), resource_prefix 21 ("llm-sbx-" + 9 and room).
NAME = re.compile(r"^[a-z][a-z0-9]{0,8}$")


def sandbox_file(name: str, config_dir: Path = CONFIG_DIR) -> Path:
    """Write config_dir/sandbox-<name>.yaml and return its path; ConfigError if it cannot be."""
    if not name:
        raise ConfigError("make sandbox needs NAME=<name>: 1-9 lowercase letters or digits, such as NAME=alice")
    if not NAME.match(name):
        raise ConfigError(
            f"NAME={name!r}: use 1-9 lowercase letters or digits, starting with a letter, such as NAME=alice "
            "(it becomes the stage name Sandbox<Name> and the resource prefix llm-sbx-<name>)"
        )
    target = config_dir / f"sandbox-{name}.yaml"
    if target.exists():
        raise ConfigError(
            f"{target}: already exists; deploy it with `make deploy STAGE=Sandbox{name.capitalize()}` or remove it first"
        )
    text = Template(TEMPLATE.read_text()).substitute(
        name=name, stage_name=f"Sandbox{name.capitalize()}", resource_prefix=f"llm-sbx-{name}"
    )
    config = parse_environment_config(yaml.safe_load(text), str(TEMPLATE))
    for path, other in load_environments(config_dir).items():
        if other.stage_name == config.stage_name or other.resource_prefix == config.resource_prefix:
            raise ConfigError(
                f"{path}: already uses stage {other.stage_name} / prefix {other.resource_prefix}; pick another NAME"
            )
    target.write_text(text)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("name", help="your sandbox's name: 1-9 lowercase letters or digits")
    parser.add_argument("--config-dir", type=Path, default=CONFIG_DIR)
    args = parser.parse_args(argv)
    try:
        path = sandbox_file(args.name, args.config_dir)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    stage = f"Sandbox{args.name.capitalize()}"
    print(
        f"wrote {path}\n"
        f"With credentials for your sandbox account (aws sso login, AWS_PROFILE=...):\n"
        f"  make bootstrap              # once per account and region\n"
        f"  make deploy STAGE={stage}\n"
        f"  make destroy STAGE={stage}  # when you are done"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
