"""Reusable constructs in the style of aws-cdk-lib L2s: small props, grant_* and metric_* methods."""
