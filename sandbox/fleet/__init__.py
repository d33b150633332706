"""Fleet operations over AWS APIs (boto3): publish, attach, modes, inventory, IAM, findings.

Tooling only: the Lambda layer does not ship this subpackage (the runtime side of AWS calls is
:mod:`sandbox.runtime.aws_calls`).
"""

from sandbox.fleet._api import AwsOptions, FleetError
from sandbox.fleet.functions import Outcome, Refused

__all__ = ["AwsOptions", "FleetError", "Outcome", "Refused"]
