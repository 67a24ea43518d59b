"""One deployable environment: the same Stage object is deployed by hand and by the pipeline."""

from __future__ import annotations

from aws_cdk import Environment, Stage, Tags
from constructs import Construct

from stacks.api_stack import ApiStack
from stacks.async_inference_stack import AsyncInferenceStack
from stacks.config import EnvironmentConfig
from stacks.dashboard_stack import DashboardStack
from stacks.nag import write_acknowledgements_to_templates
from stacks.stack_names import API, ASYNC_INFERENCE, DASHBOARD, STREAMING, stack_name
from stacks.streaming_stack import StreamingStack


class InferenceStage(Stage):
    def __init__(self, scope: Construct, *, config: EnvironmentConfig) -> None:
        env = Environment(account=config.account, region=config.region) if config.account else None
        super().__init__(scope, config.stage_name, env=env)
        self.config = config
        self.async_inference = AsyncInferenceStack(
            self,
            "AsyncInference",
            config=config,
            stack_name=stack_name(config.resource_prefix, ASYNC_INFERENCE),
            description=f"{config.stage_name}: async SageMaker endpoints (one per async model) that scale to zero",
        )
        self.streaming = None
        if config.streaming_models:
            self.streaming = StreamingStack(
                self,
                "Streaming",
                config=config,
                alarm_recipients=self.async_inference.alarm_recipients,
                stack_name=stack_name(config.resource_prefix, STREAMING),
                description=f"{config.stage_name}: real-time token-streaming endpoint (one inference component per model)",
            )
        self.api = None
        if config.api.enabled:
            self.api = ApiStack(
                self,
                "Api",
                config=config,
                async_inference=self.async_inference,
                streaming=self.streaming,
                stack_name=stack_name(config.resource_prefix, API),
                description=f"{config.stage_name}: IAM-authenticated inference API and its handlers",
            )
        self.dashboard = DashboardStack(
            self,
            "Dashboard",
            config=config,
            async_inference=self.async_inference,
            streaming=self.streaming,
            api=self.api,
            stack_name=stack_name(config.resource_prefix, DASHBOARD),
            description=f"{config.stage_name}: the environment's CloudWatch dashboard, per model",
        )
        write_acknowledgements_to_templates(self)
        Tags.of(self).add("project", "llm-hosting")
        Tags.of(self).add("environment", config.stage_name)
