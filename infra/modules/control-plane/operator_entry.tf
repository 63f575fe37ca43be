################################################################################
# failover's operator entry point: a function URL with AWS_IAM auth
################################################################################
#
# Routing actions (evacuate, restore, drill, end_drill) reach failover only through this
# URL. With AuthType AWS_IAM, Lambda verifies the request's SigV4 signature and authorises
# the caller before the function runs, and hands the function the caller's ARN
# (requestContext.authorizer.iam.userArn), which failover records as requested_by and
# checks against failover.operator_roles:
#   https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html
#   https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html
# A direct Invoke carries no verified caller, so failover refuses routing actions that
# arrive that way; EventBridge keeps its permission scoped to its rules (source ARN and
# account, main.tf) and Scheduler invokes through its own role.
#
# Since October 2025 calling a new function URL takes both lambda:InvokeFunctionUrl and
# lambda:InvokeFunction (urls-auth above). The policy below grants the second only for
# calls made through a function URL (lambda:InvokedViaFunctionUrl), so it is no grant to
# direct-Invoke a hand-made, URL-shaped payload.

resource "aws_lambda_function_url" "failover" {
  function_name      = aws_lambda_function.this["failover"].function_name
  authorization_type = "AWS_IAM"
}

data "aws_iam_policy_document" "operator_entry" {
  # ctl finds the URL with GetFunctionUrlConfig.
  statement {
    sid       = "FindFailoverUrl"
    actions   = ["lambda:GetFunctionUrlConfig"]
    resources = [aws_lambda_function.this["failover"].arn]
  }

  statement {
    sid       = "CallFailoverUrl"
    actions   = ["lambda:InvokeFunctionUrl"]
    resources = [aws_lambda_function.this["failover"].arn]

    condition {
      test     = "StringEquals"
      variable = "lambda:FunctionUrlAuthType"
      values   = ["AWS_IAM"]
    }
  }

  statement {
    sid       = "InvokeFailoverOnlyThroughItsUrl"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.this["failover"].arn]

    condition {
      test     = "Bool"
      variable = "lambda:InvokedViaFunctionUrl"
      values   = ["true"]
    }
  }

  # ctl status and plan: replication-monitor's dry-run check and the scheduler's plan, by Invoke.
  statement {
    sid     = "ReadTheOtherFunctions"
    actions = ["lambda:InvokeFunction"]
    resources = [
      aws_lambda_function.this["replication-monitor"].arn,
      aws_lambda_function.this["concurrency-scheduler"].arn,
    ]
  }
}

# What an operator role needs to use the entry point; attached to the operator roles of
# this account (roles elsewhere attach it, or an equivalent, themselves).
resource "aws_iam_policy" "operator_entry" {
  name        = "${var.service_name}-controlplane-operator-${var.region}"
  description = "Call ${aws_lambda_function.this["failover"].function_name}'s function URL (AWS_IAM) and invoke the other two functions: every ctl command."
  policy      = data.aws_iam_policy_document.operator_entry.json
  tags        = var.tags
}

locals {
  # role ARN => role name (the last path segment), for the roles in this account
  local_operator_roles = {
    for arn in var.operator_role_arns : arn => element(split("/", arn), length(split("/", arn)) - 1)
    if split(":", arn)[4] == local.account_id
  }
}

resource "aws_iam_role_policy_attachment" "operator_entry" {
  for_each = local.local_operator_roles

  role       = each.value
  policy_arn = aws_iam_policy.operator_entry.arn
}

output "operator_url" {
  description = "failover's function URL (AWS_IAM auth): where ctl sends routing actions."
  value       = aws_lambda_function_url.failover.function_url
}

output "operator_policy_arn" {
  description = "The policy an operator role needs to call failover's function URL."
  value       = aws_iam_policy.operator_entry.arn
}
