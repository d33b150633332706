# The orders function with the sandbox: learn first, then `terraform apply -var sandbox_mode=enforce`.
# Build step first: make profiles (packages ../../../../profiles/orders.json into build/).

terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4"
    }
  }
}

variable "sandbox_mode" {
  description = "off, learn, alert or enforce."
  type        = string
  default     = "learn"
}

module "sandbox" {
  source = "../../modules/lambda-sandbox"

  function_name   = "orders"
  mode            = var.sandbox_mode
  profile_package = "${path.module}/build/orders-profile.json"
  runtime         = "python3.12"
  architecture    = "x86_64"
}

data "archive_file" "code" {
  type        = "zip"
  source_dir  = "${path.module}/../../../../examples/orders"
  output_path = "${path.module}/build/orders-code.zip"
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "orders" {
  name               = "orders-function"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

resource "aws_iam_role_policy_attachment" "logs" {
  role       = aws_iam_role.orders.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
}

resource "aws_lambda_function" "orders" {
  function_name    = "orders"
  role             = aws_iam_role.orders.arn
  runtime          = "python3.12"
  architectures    = ["x86_64"]
  handler          = "app.handler"
  filename         = data.archive_file.code.output_path
  source_code_hash = data.archive_file.code.output_base64sha256
  # Every change (a new profile layer, the mode) publishes a new version; `live` follows it.
  publish = true
  layers  = module.sandbox.layers

  environment {
    variables = merge(
      {
        ORDERS_TABLE = "orders"
        PRICING_URL  = "https://pricing.example.com/price"
      },
      module.sandbox.environment,
    )
  }
}

# Callers invoke the alias. Rolling back is moving it: apply the previous commit, or set
# function_version to the previous version number.
resource "aws_lambda_alias" "live" {
  name             = "live"
  function_name    = aws_lambda_function.orders.function_name
  function_version = aws_lambda_function.orders.version
}

output "live_alias_arn" {
  value = aws_lambda_alias.live.arn
}

output "profile_sha256" {
  value = module.sandbox.profile_sha256
}
