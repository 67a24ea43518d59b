#!/usr/bin/env python3
"""The environments in config/, for the terminal: `make ls`, and the STAGE check of deploy/diff/destroy.

    scripts/environments.py                       a table: stage, file, target, pipeline wave
    scripts/environments.py --require-stage deploy "$(STAGE)"
                                                  exit 2 naming the choices when STAGE is empty or unknown
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stacks.config import CONFIG_DIR, ConfigError, load_environments, load_pipeline_config  # noqa: E402
from stacks.config_errors import did_you_mean  # noqa: E402


def table(config_dir: Path) -> str:
    environments = load_environments(config_dir)
    pipeline = load_pipeline_config(config_dir, environments)
    waves = {name: wave.name for wave in pipeline.waves for name in wave.environments}
    rows = [("STAGE", "FILE", "DEPLOYS TO", "PIPELINE", "STACKS")]
    for path, config in environments.items():
        target = f"{config.account}/{config.region}" if config.account else "your credentials' account"
        if config.sandbox:
            placement = "never (sandbox)"
        else:
            placement = f"wave {waves[config.stage_name]}" if config.stage_name in waves else "never (make deploy only)"
        rows.append((config.stage_name, _shown(path), target, placement, f"{config.resource_prefix}-*"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def require_stage(target: str, stage: str, config_dir: Path) -> str | None:
    """None when `stage` names an environment, else the message for the person at the terminal."""
    names = [config.stage_name for config in load_environments(config_dir).values()]
    if stage in names:
        return None
    choices = ", ".join(names)
    if not stage:
        return f"make {target} needs STAGE=<name>, one of: {choices} (for example: make {target} STAGE={names[0]})"
    return f"STAGE={stage} names no environment in {_shown(config_dir)}{did_you_mean(stage, names)} (environments: {choices})"


def _shown(path: Path) -> str:
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--require-stage", nargs=2, metavar=("TARGET", "STAGE"))
    parser.add_argument("--config-dir", type=Path, default=CONFIG_DIR)
    args = parser.parse_args(argv)
    try:
        if args.require_stage:
            problem = require_stage(*args.require_stage, args.config_dir)
            if problem:
                print(f"error: {problem}", file=sys.stderr)
                return 2
            return 0
        print(table(args.config_dir))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
