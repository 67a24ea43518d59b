"""Operator tools that read an environment's config: what it costs (`make cost`) and whether the
account's quotas can hold it (`make preflight`). Run as `python -m ops <command>`."""
