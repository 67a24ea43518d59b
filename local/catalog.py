"""The environment's model catalog for the local mode, from its config file.

The one place the local mode learns which models exist: the config's ``models:`` catalog, each
model with its container framework and serving modes, as the stacks read it
(stacks/api_stack.py, ``model_catalog``). It builds the same MODEL_CATALOG document the functions
get in AWS (lambda/shared/inference_common/catalog.py), with local endpoint names.
"""

from __future__ import annotations

from stacks.config import EnvironmentConfig


def model_catalog(config: EnvironmentConfig) -> dict:
    """MODEL_CATALOG, with local endpoint names derived from the resource prefix and the model's name."""
    prefix = config.resource_prefix
    models = {}
    for name, model in config.models.items():
        entry: dict = {"container_format": model.container.framework}
        if model.async_ is not None:
            entry["async"] = {"endpoint_name": f"{prefix}-{name}-async"}
        if model.streaming is not None and config.streaming_endpoint is not None:
            entry["streaming"] = {"endpoint_name": f"{prefix}-streaming", "inference_component_name": f"{prefix}-{name}"}
        models[name] = entry
    return {"default": config.default_model, "models": models}
