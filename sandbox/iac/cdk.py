"""The sandbox as a CDK Aspect: every Python ``aws_lambda.Function`` in a scope gets it.

``pip install 'lambda-sandbox[cdk]'`` (aws-cdk-lib; it runs on Node.js through jsii)::

    from sandbox.iac.cdk import LambdaSandbox
    Aspects.of(app).add(LambdaSandbox(mode="learn", profiles_dir="profiles"))

For each Python function (container-image and non-Python functions are skipped, with a
warning) the aspect adds:

- the sandbox layer: the version in the SSM parameter ``sandbox layer publish`` writes for the
  function's runtime and architecture (resolved at deploy time), or ``sandbox_layer_arn``;
- the function's profile layer, when ``profiles_dir`` holds its profile: packaged at synth
  time by :func:`sandbox.profile.package.package_profile` (deterministic bytes, so an unchanged
  profile is the same asset and publishes no new layer version), named
  ``sandbox-profile-<function>``, the profile's hash in its description, old versions retained;
- ``AWS_LAMBDA_EXEC_WRAPPER=/opt/sandbox-wrapper`` (or, with ``redirect_handler``, the handler
  ``_lambda_sandbox.bootstrap.handler`` and ``SANDBOX_ORIGINAL_HANDLER``), ``SANDBOX_MODE`` and,
  with a profile, ``SANDBOX_PROFILE``.

Per function, the tag ``lambda-sandbox`` decides: ``off`` leaves the function alone (opt-out),
``learn``/``alert``/``enforce`` override the mode. The profile is found as
``<profiles_dir>/<name>.json`` where name is the tag ``lambda-sandbox:profile``, else the
function's literal ``functionName``, else its construct id (as is, then lower-case).
``alert``/``enforce`` without a profile is a synth error, as the fleet commands refuse it.

Because the mode and the profile layer become part of the function's configuration, a change
of either gives ``fn.current_version`` a new version: an alias on it moves with the deploy.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_ssm as ssm

from sandbox.errors import SandboxError
from sandbox.fleet.layers import PROFILE_LAYER_PREFIX, SSM_PREFIX, ssm_parameter_name
from sandbox.layer import BOOTSTRAP_HANDLER, WRAPPER_NAME
from sandbox.profile.package import PROFILE_PATH, package_profile

__all__ = ["MODES", "OPT_OUT_TAG", "PROFILE_TAG", "LambdaSandbox"]

MODES = ("off", "learn", "alert", "enforce")
OPT_OUT_TAG = "lambda-sandbox"
PROFILE_TAG = "lambda-sandbox:profile"
WRAPPER = f"/opt/{WRAPPER_NAME}"


def _tag(function: Any, key: str) -> str | None:
    """The value of tag ``key`` for a function: pending ``Tags.of(...)`` aspects (the closest
    scope's, the last added, wins) or a tag already applied to its ``CfnFunction``."""
    for scope in reversed(function.node.scopes):
        for aspect in reversed(cdk.Aspects.of(scope).all):
            if isinstance(aspect, cdk.Tag) and aspect.key == key:
                return str(aspect.value)
    applied = function.node.default_child.tags.tag_values()
    value = applied.get(key)
    return str(value) if value is not None else None


@jsii.implements(cdk.IAspect)
class LambdaSandbox:
    """Attach the sandbox to every Python Lambda function in the scope it is added to.

    Parameters
    ----------
    mode:
        ``off``, ``learn``, ``alert`` or ``enforce``; or a token (e.g. a ``CfnParameter``'s
        ``value_as_string``) to switch at deploy time.
    profiles_dir:
        The repository's reviewed profiles (``<name>.json``).
    sandbox_layer_arn:
        A sandbox layer version ARN for every function; default: resolve the SSM parameter
        ``<ssm_prefix>/layer/<arch>/<runtime>/<release>`` per runtime and architecture.
    ssm_prefix, release:
        Which SSM parameter (``release``: ``latest`` or a release such as ``0.1.0`` to pin).
    redirect_handler:
        Attach by handler redirection (for functions whose ``AWS_LAMBDA_EXEC_WRAPPER`` another
        tool uses).
    build_dir:
        Where packaged profile zips are written before CDK stages them (default: a temporary
        directory).

    Example
    -------
    >>> cdk.Aspects.of(app).add(LambdaSandbox(mode="enforce", profiles_dir="profiles"))  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        mode: str = "learn",
        profiles_dir: str | Path | None = None,
        sandbox_layer_arn: str | None = None,
        ssm_prefix: str = SSM_PREFIX,
        release: str = "latest",
        redirect_handler: bool = False,
        build_dir: str | Path | None = None,
    ) -> None:
        if not cdk.Token.is_unresolved(mode) and mode not in MODES:
            raise SandboxError(f"mode {mode!r}: expected one of {', '.join(MODES)}")
        self.mode = mode
        self.profiles_dir = Path(profiles_dir) if profiles_dir is not None else None
        self.sandbox_layer_arn = sandbox_layer_arn
        self.ssm_prefix = ssm_prefix
        self.release = release
        self.redirect_handler = redirect_handler
        self._build_dir = Path(build_dir) if build_dir is not None else None
        self._done: set[str] = set()
        self._layers: dict[tuple[str, str], Any] = {}

    # ------------------------------------------------------------------ the aspect

    def visit(self, node: Any) -> None:
        """Called by CDK for every construct in the scope."""
        if not isinstance(node, lambda_.Function) or node.node.path in self._done:
            return
        self._done.add(node.node.path)
        tagged = _tag(node, OPT_OUT_TAG)
        if tagged == "off":
            return
        annotations = cdk.Annotations.of(node)
        runtime = node.runtime
        if runtime.family != lambda_.RuntimeFamily.PYTHON:
            if runtime.name == lambda_.Runtime.FROM_IMAGE.name:
                annotations.add_warning_v2(
                    "lambda-sandbox:image",
                    "container image function: layers do not apply; build the sandbox into the "
                    "image (see the deployment guide) or tag it lambda-sandbox=off",
                )
            return
        if tagged is not None and tagged not in MODES:
            annotations.add_error(f"tag {OPT_OUT_TAG}={tagged!r}: expected one of {MODES}")
            return
        mode = tagged or self.mode
        profile = self._profile_file(node)
        if profile is None and not cdk.Token.is_unresolved(mode) and mode in ("alert", "enforce"):
            annotations.add_error(
                f"lambda-sandbox: {mode} needs a profile, and none was found for this function "
                f"in {self.profiles_dir or '(no profiles_dir)'}; learn first, or tag it "
                f"{PROFILE_TAG}=<name>"
            )
            return
        node.add_layers(self._sandbox_layer(node))
        if profile is not None:
            layer = self._profile_layer(node, profile)
            if layer is None:
                return
            node.add_layers(layer)
            node.add_environment("SANDBOX_PROFILE", PROFILE_PATH)
        node.add_environment("SANDBOX_MODE", mode)
        if self.redirect_handler:
            cfn = node.node.default_child
            if cfn.handler != BOOTSTRAP_HANDLER:
                node.add_environment("SANDBOX_ORIGINAL_HANDLER", cfn.handler)
                cfn.handler = BOOTSTRAP_HANDLER
        else:
            node.add_environment("AWS_LAMBDA_EXEC_WRAPPER", WRAPPER)

    # ------------------------------------------------------------------ parts

    def _sandbox_layer(self, function: Any) -> Any:
        stack = cdk.Stack.of(function)
        runtime = function.runtime.name
        arch = function.architecture.name
        key = (stack.node.path, self.sandbox_layer_arn or f"{runtime}/{arch}")
        if key not in self._layers:
            if self.sandbox_layer_arn is not None:
                arn = self.sandbox_layer_arn
            else:
                name = ssm_parameter_name(
                    runtime, arch, prefix=self.ssm_prefix, release=self.release
                )
                arn = ssm.StringParameter.value_for_string_parameter(stack, name)
            label = "".join(ch for ch in f"{runtime}{arch}" if ch.isalnum())
            self._layers[key] = lambda_.LayerVersion.from_layer_version_arn(
                stack, f"LambdaSandboxLayer{label}", arn
            )
        return self._layers[key]

    def _profile_file(self, function: Any) -> Path | None:
        if self.profiles_dir is None:
            return None
        names = []
        tagged = _tag(function, PROFILE_TAG)
        if tagged:
            names.append(tagged)
        literal = function.node.default_child.function_name
        if literal and not cdk.Token.is_unresolved(literal):
            names.append(literal)
        names += [function.node.id, function.node.id.lower()]
        for name in dict.fromkeys(names):
            candidate = self.profiles_dir / f"{name}.json"
            if candidate.is_file():
                return candidate
        return None

    def _profile_layer(self, function: Any, profile: Path) -> Any:
        try:
            package = package_profile(profile)
        except SandboxError as exc:
            cdk.Annotations.of(function).add_error(f"lambda-sandbox: {exc}")
            return None
        if self._build_dir is None:
            self._build_dir = Path(tempfile.mkdtemp(prefix="lambda-sandbox-profiles-"))
        self._build_dir.mkdir(parents=True, exist_ok=True)
        zip_path = self._build_dir / f"{package.function}-{package.profile_sha256[:16]}.zip"
        if not zip_path.is_file():
            zip_path.write_bytes(package.data)
        return lambda_.LayerVersion(
            function.node.scope,
            f"{function.node.id}SandboxProfile",
            code=lambda_.Code.from_asset(str(zip_path)),
            layer_version_name=f"{PROFILE_LAYER_PREFIX}{package.function}"[:140],
            description=package.description,
            compatible_runtimes=[function.runtime],
            # Earlier versions stay: a published function version or a rollback refers to them.
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
