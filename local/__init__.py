"""The local mode (`make local`): the environment's API on 127.0.0.1 against stand-ins for AWS
(moto's server, a SageMaker runtime, a CPU model container), with SigV4 verified. The tests use
these stand-ins too."""
