output "layers" {
  description = "Append to the function's layers: the sandbox layer, then its profile layer."
  value       = concat([local.sandbox_layer_arn], local.profile_layers)
}

output "environment" {
  description = "Merge into the function's environment variables."
  value       = local.sandbox_environment

  precondition {
    condition     = contains(["off", "learn"], var.mode) || var.profile_package != null
    error_message = "alert and enforce need a profile: set profile_package."
  }
  precondition {
    condition     = !var.redirect_handler || var.handler != null
    error_message = "redirect_handler needs the function's own handler in handler."
  }
}

output "handler" {
  description = "The handler to configure: the function's own, or the sandbox's with redirect_handler."
  value       = var.redirect_handler ? local.bootstrap_handler : var.handler
}

output "profile_layer_arn" {
  description = "The profile layer version ARN (null without a profile)."
  value       = one(local.profile_layers)
}

output "profile_sha256" {
  description = "The packaged profile's hash (null without a profile)."
  value       = var.profile_package == null ? null : local.manifest.profile_sha256
}
