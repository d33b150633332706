variable "function_name" {
  description = "The function the sandbox is for; names its profile layer (sandbox-profile-<name>)."
  type        = string
}

variable "mode" {
  description = "off, learn, alert or enforce."
  type        = string
  default     = "learn"

  validation {
    condition     = contains(["off", "learn", "alert", "enforce"], var.mode)
    error_message = "The mode must be one of off, learn, alert, enforce."
  }
}

variable "profile_package" {
  description = "The manifest written by `sandbox profile package PROFILE -o X.zip --manifest X.json` (it names the zip beside it); null for none (learn on a new function)."
  type        = string
  default     = null
}

variable "runtime" {
  description = "The function's Python runtime: selects the sandbox layer build."
  type        = string
  default     = "python3.12"
}

variable "architecture" {
  description = "x86_64 or arm64: selects the sandbox layer build."
  type        = string
  default     = "x86_64"
}

variable "sandbox_layer_arn" {
  description = "A sandbox layer version ARN; null resolves the latest from SSM (written by `sandbox layer publish`)."
  type        = string
  default     = null
}

variable "ssm_prefix" {
  description = "The SSM prefix `sandbox layer publish` wrote to (--ssm-prefix)."
  type        = string
  default     = "/lambda-sandbox"
}

variable "release" {
  description = "Which SSM parameter to read: latest, or a release of the tool (e.g. 0.1.0) to pin it."
  type        = string
  default     = "latest"
}

variable "handler" {
  description = "The function's own handler; only used with redirect_handler."
  type        = string
  default     = null
}

variable "redirect_handler" {
  description = "Attach by handler redirection instead of AWS_LAMBDA_EXEC_WRAPPER (when another tool owns the wrapper slot)."
  type        = bool
  default     = false
}
