# The sandbox for one function: the sandbox layer (resolved from SSM), the function's profile
# layer (published from the packaged profile), and the settings to merge into the function.
# Use the outputs in your aws_lambda_function: layers, environment, handler.

data "aws_ssm_parameter" "sandbox_layer" {
  count = var.sandbox_layer_arn == null ? 1 : 0
  name  = "${var.ssm_prefix}/layer/${var.architecture}/${var.runtime}/${var.release}"
}

locals {
  sandbox_layer_arn = var.sandbox_layer_arn != null ? var.sandbox_layer_arn : data.aws_ssm_parameter.sandbox_layer[0].value
  manifest          = var.profile_package == null ? null : jsondecode(file(var.profile_package))
  profile_zip       = var.profile_package == null ? null : "${dirname(var.profile_package)}/${local.manifest.zip}"
  wrapper           = "/opt/sandbox-wrapper"
  bootstrap_handler = "_lambda_sandbox.bootstrap.handler"
  profile_path      = "/opt/sandbox-profile/profile.json"
}

resource "aws_lambda_layer_version" "profile" {
  count = var.profile_package == null ? 0 : 1

  layer_name          = "sandbox-profile-${var.function_name}"
  description         = local.manifest.description
  filename            = local.profile_zip
  source_code_hash    = filebase64sha256(local.profile_zip)
  compatible_runtimes = [var.runtime]
  # Earlier versions stay: a published function version or a rollback still refers to them.
  skip_destroy = true

  lifecycle {
    precondition {
      condition     = local.manifest.code_sha256 == filebase64sha256(local.profile_zip)
      error_message = "The profile zip does not match its manifest: run `sandbox profile package` again."
    }
  }
}

locals {
  profile_layers = [for layer in aws_lambda_layer_version.profile : layer.arn]
  sandbox_environment = merge(
    {
      SANDBOX_MODE = var.mode
    },
    var.redirect_handler ? { SANDBOX_ORIGINAL_HANDLER = var.handler } : { AWS_LAMBDA_EXEC_WRAPPER = local.wrapper },
    var.profile_package == null ? {} : { SANDBOX_PROFILE = local.profile_path },
  )
}
