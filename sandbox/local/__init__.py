"""Local Lambda emulation: a loopback Runtime API and a runner for the real awslambdaric."""

from sandbox.local.runner import RunResult, default_wrapper, run_function
from sandbox.local.runtime_api import Invocation, InvocationResult, RuntimeAPIServer

__all__ = [
    "Invocation",
    "InvocationResult",
    "RunResult",
    "RuntimeAPIServer",
    "default_wrapper",
    "run_function",
]
