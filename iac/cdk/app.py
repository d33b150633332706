"""CDK app: the orders function with the sandbox on every Python function, via the aspect.

pip install 'lambda-sandbox[cdk]'
cdk deploy                          # learn (the default)
cdk deploy -c sandbox_mode=enforce  # after review: enforce; `live` moves to a new version
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_

from sandbox.iac.cdk import LambdaSandbox

REPO = Path(__file__).resolve().parents[2]


class OrdersStack(cdk.Stack):
    """The orders function behind the `live` alias, and a function that opts out."""

    def __init__(self, scope: cdk.App, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        orders = lambda_.Function(
            self,
            "Orders",
            function_name="orders",
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.X86_64,
            handler="app.handler",
            code=lambda_.Code.from_asset(str(REPO / "examples" / "orders")),
            environment={"ORDERS_TABLE": "orders"},
        )
        # Callers use the alias; a new mode or profile publishes a new version and moves it.
        orders.add_alias("live")
        legacy = lambda_.Function(
            self,
            "Legacy",
            runtime=lambda_.Runtime.PYTHON_3_12,
            handler="app.handler",
            code=lambda_.Code.from_asset(str(REPO / "examples" / "orders")),
        )
        cdk.Tags.of(legacy).add("lambda-sandbox", "off")  # opt-out


def build(app: cdk.App) -> OrdersStack:
    """The stack, with the sandbox aspect on the whole app (mode from `-c sandbox_mode=`)."""
    stack = OrdersStack(app, "Orders")
    mode = app.node.try_get_context("sandbox_mode") or "learn"
    cdk.Aspects.of(app).add(LambdaSandbox(mode=mode, profiles_dir=REPO / "profiles"))
    return stack


if __name__ == "__main__":
    app = cdk.App()
    build(app)
    app.synth()
