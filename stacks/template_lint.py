"""cfn-lint over the synthesized templates, each finding explained and traced back to the config file.

`make synth` runs it after synth (`python -m stacks.template_lint cdk.out`): a finding reaches the
person who edited the config, not only the test suite. Each error is printed with the rule's own
explanation, the construct it is on, and the config field that holds the offending value when
one does. Only errors fail; warnings are about CDK's generated code (such as W3005) and are left
to the test suite's review.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml
from cfnlint.api import ManualArgs, lint_by_config

from stacks.config import CONFIG_DIR, ConfigError, environment_files
from stacks.config_errors import did_you_mean

# cfn-lint checks a template against the region it will deploy to; an environment-agnostic
# stage's region is only known at deploy time.
DEFAULT_REGION = "us-east-1"
_SHOWN_CHOICES = 3


@dataclass(frozen=True)
class Finding:
    rule: str
    explanation: str
    message: str
    template: Path
    construct: str
    config_fields: tuple[str, ...]
    config_file: Path | None

    @property
    def is_error(self) -> bool:
        return self.rule.startswith("E")

    def __str__(self) -> str:
        lines = [f"{self.rule} at {self.construct} ({self.template}): {self.message}", f"  {self.rule}: {self.explanation}"]
        for field in self.config_fields:
            lines.append(f"  set by {self.config_file}, field '{field}'")
        return "\n".join(lines)


def lint_assembly(assembly_dir: Path, config_dir: Path = CONFIG_DIR) -> list[Finding]:
    """Every cfn-lint finding in the cloud assembly's templates, stage templates with their configs."""
    configs = _raw_configs(config_dir)
    by_region: dict[str, list[tuple[Path, Path | None, dict]]] = {}
    for template in sorted([*assembly_dir.glob("*.template.json"), *assembly_dir.glob("assembly-*/*.template.json")]):
        stage = template.parent.name.removeprefix("assembly-") if template.parent != assembly_dir else None
        config_file, config = configs.get(stage, (None, {}))
        by_region.setdefault(config.get("region") or DEFAULT_REGION, []).append((template, config_file, config))
    findings = []
    # One cfn-lint run per region: loading its rules and schemas is most of its time.
    for region, templates in by_region.items():
        sources = {str(template): (template, config_file, config) for template, config_file, config in templates}
        bodies = {name: json.loads(template.read_text()) for name, (template, _, _) in sources.items()}
        for match in lint_by_config(ManualArgs(templates=list(sources), regions=[region])):
            template, config_file, config = sources[match.filename]
            value = _at(bodies[match.filename], match.path)
            findings.append(
                Finding(
                    rule=match.rule.id,
                    explanation=f"{match.rule.shortdesc}. {match.rule.description}".rstrip("."),
                    message=_shortened(match.message, value),
                    template=template,
                    construct=_construct_path(bodies[match.filename], match.path),
                    config_fields=tuple(_fields_holding(config, value)) if _is_scalar(value) else (),
                    config_file=config_file,
                )
            )
    return findings


def _raw_configs(config_dir: Path) -> dict[str, tuple[Path, dict]]:
    """Each environment's file as written (not validated: the value to find is the one in the file)."""
    found = {}
    for path in environment_files(config_dir):
        data = yaml.safe_load(path.read_text())
        if isinstance(data, dict) and isinstance(data.get("stage_name"), str):
            found[data["stage_name"]] = (path, data)
    return found


def _at(body: object, path: list) -> object:
    for part in path:
        try:
            body = body[part]
        except (KeyError, IndexError, TypeError):
            return None
    return body


def _is_scalar(value: object) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def _construct_path(body: dict, path: list) -> str:
    if len(path) >= 2 and path[0] == "Resources":
        resource = body.get("Resources", {}).get(path[1], {})
        return resource.get("Metadata", {}).get("aws:cdk:path", path[1])
    return "/".join(str(p) for p in path)


def _fields_holding(config: object, value: object, prefix: str = "") -> list[str]:
    if isinstance(config, dict):
        return [f for key, item in config.items() for f in _fields_holding(item, value, f"{prefix}{key}.")]
    if isinstance(config, list):
        return [f for i, item in enumerate(config) for f in _fields_holding(item, value, f"{prefix.rstrip('.')}[{i}].")]
    return [prefix.rstrip(".")] if config == value and prefix else []


def _shortened(message: str, value: object) -> str:
    """An enum rule lists every allowed value (hundreds of instance types): keep the near misses."""
    head, separator, listed = message.partition(" is not one of [")
    if not separator:
        return message
    choices = [c.strip().strip("'\"") for c in listed.rstrip("]").split(",")]
    return f"{head} is not one of the {len(choices)} allowed values{did_you_mean(value, choices)}"


def main(argv: list[str]) -> int:
    assembly_dir = Path(argv[0]) if argv else Path("cdk.out")
    config_dir = Path(argv[1]) if len(argv) > 1 else CONFIG_DIR
    try:
        findings = lint_assembly(assembly_dir, config_dir)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    errors = [f for f in findings if f.is_error]
    for finding in errors:
        print(f"error: cfn-lint {finding}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
