"""The identities the local gateway accepts signatures from."""

from local.gateway import Identity

# The credentials tests/handlers' aws_environment puts in the environment: the CLI's default caller.
ENVIRONMENT_CALLER = Identity("testing", "testing", "testing")
OTHER_CALLER = Identity("AKIAOTHERCALLER00001", "other-caller-secret")
