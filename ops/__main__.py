"""python -m ops cost | preflight: see ops/__init__.py."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stacks.config import ConfigError, load_all


def _stage(configs, name: str):
    for config in configs:
        if config.stage_name.lower() == name.lower():
            return config
    sys.exit(f"error: no environment named {name!r}; choose one of: {', '.join(c.stage_name for c in configs)}")


def _session(config, args: argparse.Namespace):
    """A boto3 session in the environment's region (an environment-agnostic one takes --region or AWS_REGION)."""
    import boto3

    region = config.region or args.region or boto3.session.Session().region_name
    if not region:
        sys.exit(f"error: {config.stage_name} is environment-agnostic; pass --region or set AWS_REGION")
    session = boto3.session.Session(region_name=region)
    if not getattr(args, "role_arn", None):
        return session
    # The pipeline runs in the tooling account and reads the target account through the CDK
    # bootstrap's lookup role (ReadOnlyAccess, trusted by `cdk bootstrap --trust`).
    credentials = session.client("sts").assume_role(RoleArn=args.role_arn, RoleSessionName="preflight")["Credentials"]
    return boto3.session.Session(
        region_name=region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def cost(args: argparse.Namespace, configs) -> int:
    from ops.cost import BilledResources, PriceTable, estimate, render_markdown, with_readme_section

    prices = PriceTable.load()
    try:
        reports = [
            estimate(config, BilledResources.from_assembly(args.assembly, config.stage_name), prices)
            for config in configs
        ]
    except FileNotFoundError as err:
        sys.exit(f"error: {err}")
    tables = render_markdown(reports)
    if args.write_readme:
        readme = Path("README.md")
        readme.write_text(with_readme_section(readme.read_text(encoding="utf-8"), tables), encoding="utf-8")
    print(tables)
    return 0


def preflight(args: argparse.Namespace, configs) -> int:
    from ops.capacity import instance_needs
    from ops.quotas import preflight as check_quotas
    from ops.quotas import render

    config = _stage(configs, args.stage)
    if not config.sandbox and (placeholders := config.alarms.placeholder_addresses):
        print(
            f"error: {config.stage_name}: alarms.email lists {', '.join(placeholders)}, a placeholder (RFC 2606 "
            f"reserved domain): no alarm would reach anyone. Put the on-call address in the environment's config "
            "file (or an existing topic under alarms.topic_arns) and deploy again.",
            file=sys.stderr,
        )
        return 1
    session = _session(config, args)
    region = session.region_name
    checks = check_quotas(
        instance_needs(config),
        service_quotas=session.client("service-quotas"),
        sagemaker=session.client("sagemaker"),
    )
    print(render(config.stage_name, region, checks))
    return 1 if any(item.short_by for item in checks) else 0


def scaling(args: argparse.Namespace, configs) -> int:
    from ops import scaling_control

    config = _stage(configs, args.stage)
    targets = scaling_control.scalable_targets(config)
    client = _session(config, args).client("application-autoscaling")
    try:
        if args.command == "prewarm":
            changed = scaling_control.prewarm(client, targets, model=args.model, count=args.count)
        elif args.command == "pause":
            changed = scaling_control.pause(client, targets)
        else:
            changed = scaling_control.resume(client, targets)
    except scaling_control.ScalingControlError as err:
        sys.exit(f"error: {err}")
    print("\n".join(changed))
    if args.command == "pause" and (kept := scaling_control.instances_kept_while_paused(config)):
        print(kept)
    return 0


def drain(args: argparse.Namespace, configs) -> int:
    from ops import scaling_control
    from ops.drain import wait_until_drained

    config = _stage(configs, args.stage)
    cloudwatch = _session(config, args).client("cloudwatch")
    targets = [t for t in scaling_control.scalable_targets(config) if t.path == "async"]
    if args.model:
        targets = [t for t in targets if t.model == args.model] or sys.exit(
            f"error: no async model {args.model!r} in {config.stage_name}"
        )
    drained = [
        wait_until_drained(cloudwatch, target.resource_id.split("/")[1], timeout_seconds=args.timeout_minutes * 60)
        for target in targets
    ]
    return 0 if all(drained) else 1


def orphans(args: argparse.Namespace, configs) -> int:
    from ops.orphans import orphaned, refusal, stage_stack_names

    config = _stage(configs, args.stage)
    session = _session(config, args)
    region = session.region_name
    leftovers = orphaned(
        session.client("cloudformation"),
        resource_prefix=config.resource_prefix,
        expected=stage_stack_names(args.assembly, config.stage_name),
    )
    if leftovers:
        print(refusal(config.stage_name, region, leftovers), file=sys.stderr)
        return 1
    return 0


def show_logs(args: argparse.Namespace, configs) -> int:
    from ops.logs import environment_log_groups, tail
    from ops.orphans import deployed_stack_names

    config = _stage(configs, args.stage)
    session = _session(config, args)
    cloudformation = session.client("cloudformation")
    groups = environment_log_groups(cloudformation, sorted(deployed_stack_names(cloudformation, config.resource_prefix)))
    if args.match:
        groups = [group for group in groups if args.match in group]
    if not groups:
        sys.exit(f"error: no log groups of {config.stage_name} match {args.match!r}" if args.match else "error: nothing deployed")
    print("\n".join(f"# {group}" for group in groups))
    tail(session.client("logs"), groups, since_minutes=args.since_minutes, follow=args.follow, pattern=args.filter)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops")
    commands = parser.add_subparsers(dest="command", required=True)
    cost_parser = commands.add_parser("cost", help="idle, active, wake and maximum cost of every environment")
    cost_parser.add_argument("--assembly", type=Path, default=Path("cdk.out"), help="the cloud assembly `make synth` wrote")
    cost_parser.add_argument("--write-readme", action="store_true", help="also replace the README's cost tables")
    preflight_parser = commands.add_parser("preflight", help="compare an environment's needs with the account's quotas")
    preflight_parser.add_argument("--stage", required=True)
    preflight_parser.add_argument("--region", help="for an environment-agnostic config")
    preflight_parser.add_argument("--role-arn", help="a role in the environment's account to read it with")
    for name, text in (
        ("prewarm", "start capacity for a model now and keep it until `resume`"),
        ("pause", "take every endpoint of an environment to zero and keep it there until `resume`"),
        ("resume", "restore the scaling bounds from the environment's config"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("--stage", required=True)
        command.add_argument("--region", help="for an environment-agnostic config")
        if name == "prewarm":
            command.add_argument("--model", help="one model of the catalog (default: all)")
            command.add_argument("--count", type=int, default=1, help="instances or copies to hold (default 1)")
    drain_parser = commands.add_parser("drain", help="wait until async endpoints hold no queued or running request")
    drain_parser.add_argument("--stage", required=True)
    drain_parser.add_argument("--region", help="for an environment-agnostic config")
    drain_parser.add_argument("--model", help="one model of the catalog (default: all async models)")
    drain_parser.add_argument("--timeout-minutes", type=float, default=60)
    orphans_parser = commands.add_parser("orphans", help="refuse a deploy that would leave a turned-off part running")
    orphans_parser.add_argument("--stage", required=True)
    orphans_parser.add_argument("--region", help="for an environment-agnostic config")
    orphans_parser.add_argument("--assembly", type=Path, default=Path("cdk.out"))
    orphans_parser.add_argument("--role-arn", help="a role in the environment's account to read it with")
    logs_parser = commands.add_parser("logs", help="interleave the environment's log groups")
    logs_parser.add_argument("--stage", required=True)
    logs_parser.add_argument("--region", help="for an environment-agnostic config")
    logs_parser.add_argument("--match", help="only log groups whose name contains this (a model's endpoint, 'lambda')")
    logs_parser.add_argument("--filter", help="a CloudWatch Logs filter pattern, such as ERROR")
    logs_parser.add_argument("--since-minutes", type=float, default=15)
    logs_parser.add_argument("--follow", action="store_true")
    args = parser.parse_args(argv)
    try:
        configs = load_all()
    except ConfigError as err:
        sys.exit(f"error: {err}")
    handlers = {"cost": cost, "preflight": preflight, "prewarm": scaling, "pause": scaling, "resume": scaling, "drain": drain, "orphans": orphans, "logs": show_logs}
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return handlers[args.command](args, configs)
    except (BotoCoreError, ClientError) as err:
        # Missing credentials, a denied call, a throttled API: the operator's to fix, not a crash.
        sys.exit(f"error: {args.command}: {err}")


if __name__ == "__main__":
    sys.exit(main())
