################################################################################
# IAM: one least-privilege role per function, plus the roles EventBridge uses.
#
# The three `data "aws_iam_policy_document" "<function>"` documents below grant exactly the
# actions each function's code calls: tests/iam.rs derives them from the SDK call sites in the
# code and checks each statement's actions and resources; tests/infra.rs checks the crates' lists.
# Resources are scoped to ARNs wherever the Service Authorization Reference lists a resource
# type for the action; "*" is used only where it lists none, and says so.
################################################################################

locals {
  # Each ARN below is what the code touches, read from the same config key the code reads
  # (docs/RELIABILITY.md, "Security", lists every grant with its call; tests/iam.rs derives the
  # actions from the SDK call sites and checks these resources statement by statement).
  route53_gate_arns = [for id in values(var.gate_health_check_ids) : "arn:${local.partition}:route53:::healthcheck/${id}"]
  # The routing state's zone (failover.state_zone_id): the control plane's private zone, never
  # the service's public one.
  state_zone_arn = "arn:${local.partition}:route53:::hostedzone/${var.state_zone_id}"
  # The one parameter each stateful function reads and writes, in its own region.
  alert_state_parameter_arn       = "arn:${local.partition}:ssm:${var.region}:${local.account_id}:parameter${local.alert_state_parameter}"
  concurrency_state_parameter_arn = "arn:${local.partition}:ssm:${var.region}:${local.account_id}:parameter${local.concurrency_state_parameter}"
  # Drill-end schedules: created in this region's drill group only, named controlplane-end-<drill id>
  # (shared::aws::scheduler::DrillSchedules::name).
  drill_schedule_arn = "arn:${local.partition}:scheduler:${var.region}:${local.account_id}:schedule/${local.drill_schedule_group}/controlplane-end-*"
  # Secrets Manager is read in the source region: its DescribeSecret reports every replica.
  # (ECR is read with the shared-services role's credentials: the replication module grants it.)
  secret_arns = [
    for id in var.replication.secrets.secret_ids :
    "arn:${local.partition}:secretsmanager:${var.replication.secrets.source_region}:${local.account_id}:secret:${id}-??????"
  ]
  # Provisioned concurrency lives on alias `concurrency.alias` of the managed functions
  # (concurrency.targets). The scheduler sets it in its own region only; failover reads the
  # peer's, so it may read every region a target runs in. An alias ARN names that alias alone:
  # no other alias or version of the function
  # (https://docs.aws.amazon.com/lambda/latest/dg/lambda-api-permissions-ref.html).
  managed_alias_arns_here = [
    for t in var.concurrency.targets :
    "arn:${local.partition}:lambda:${var.region}:${local.account_id}:function:${t.function}:${var.concurrency.alias}"
    if contains(t.regions, var.region)
  ]
  managed_alias_arns_everywhere = flatten([
    for t in var.concurrency.targets : [
      for r in t.regions : "arn:${local.partition}:lambda:${r}:${local.account_id}:function:${t.function}:${var.concurrency.alias}"
    ]
  ])
  # The local store (failover.data_plane.table): this region's table only. The code reaches it
  # with the home region's client (shared::aws::local_store), never the peer's: a dark peer
  # must not matter.
  local_store_table_arn = "arn:${local.partition}:dynamodb:${var.region}:${local.account_id}:table/${var.data_plane.table}"
  log_stream_arns       = { for k, name in local.function_names : k => "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/aws/lambda/${name}:*" }
}

################################################################################
# Function roles
################################################################################

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    sid     = "LambdaAssume"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each = local.functions

  name                 = each.value.name
  description          = "Execution role of ${each.value.name}"
  assume_role_policy   = data.aws_iam_policy_document.lambda_assume.json
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy" "function" {
  for_each = local.functions

  name   = "${each.key}-actions"
  role   = aws_iam_role.function[each.key].id
  policy = local.function_policies[each.key]
}

# Lambda itself (not the function code) uses the execution role to deliver failed
# asynchronous invocations to the on_failure destination, so this sits apart from the
# per-function documents that mirror the code's calls: the execution role needs
# sqs:SendMessage on the destination queue
# (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html).
data "aws_iam_policy_document" "async_destination" {
  statement {
    sid       = "OnFailureDestination"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dlq.arn]
  }
}

resource "aws_iam_role_policy" "async_destination" {
  for_each = local.functions

  name   = "async-on-failure-destination"
  role   = aws_iam_role.function[each.key].id
  policy = data.aws_iam_policy_document.async_destination.json
}

data "aws_iam_policy_document" "failover" {
  statement {
    # Gate status (Route53::status) and threshold changes (Route53::set_threshold): the gate
    # health checks only. UpdateHealthCheck has no condition key that limits which fields a
    # call may change (Service Authorization Reference, Amazon Route 53:
    # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonroute53.html),
    # so the health-check ARNs are the whole of its scope.
    sid       = "ReadGates"
    actions   = ["route53:GetHealthCheck"]
    resources = local.route53_gate_arns
  }

  statement {
    sid       = "OpenCloseGates"
    actions   = ["route53:UpdateHealthCheck"]
    resources = local.route53_gate_arns
  }

  statement {
    sid       = "ReadRoutingState"
    actions   = ["route53:ListResourceRecordSets"]
    resources = [local.state_zone_arn]
  }

  statement {
    sid       = "CompareAndSwapRoutingState"
    actions   = ["route53:ChangeResourceRecordSets"]
    resources = [local.state_zone_arn]

    condition {
      test     = "ForAllValues:StringEquals"
      variable = "route53:ChangeResourceRecordSetsNormalizedRecordNames"
      values   = [lower(trimsuffix(var.state_record_name, "."))]
    }

    condition {
      test     = "ForAllValues:StringEquals"
      variable = "route53:ChangeResourceRecordSetsRecordTypes"
      values   = ["TXT"]
    }
  }

  statement {
    # PutMetricData has no resource type: "*" narrowed by the namespace condition key
    # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/iam-cw-condition-keys-namespace.html).
    sid       = "PublishMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [local.metrics_namespace]
    }
  }

  statement {
    # GetMetricData has no resource type and no condition key: "*" is the only option
    # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html).
    # Failover reads ReplicationReady and Route 53's HealthCheckStatus (us-east-1) with it.
    sid       = "ReadMetrics"
    actions   = ["cloudwatch:GetMetricData"]
    resources = ["*"]
  }

  statement {
    # The region-health alarms' own state, read in each alarm's region; only these alarms.
    sid       = "ReadRegionHealthAlarms"
    actions   = ["cloudwatch:DescribeAlarms"]
    resources = keys(var.region_alarms)
  }

  statement {
    # This region's topic only: the code publishes to alerts_topic_arns[home].
    sid       = "Alert"
    actions   = ["sns:Publish"]
    resources = [local.alerts_topic_arns[var.region]]
  }

  statement {
    sid       = "EmitFailoverEvents"
    actions   = ["events:PutEvents"]
    resources = [local.default_bus_arns[var.region]]
  }

  statement {
    sid       = "DrillEndSchedules"
    actions   = ["scheduler:CreateSchedule", "scheduler:DeleteSchedule"]
    resources = [local.drill_schedule_arn]
  }

  statement {
    # CreateSchedule names the role Scheduler runs the target as, which needs iam:PassRole
    # on that role (https://docs.aws.amazon.com/scheduler/latest/UserGuide/setting-up.html#setting-up-execution-role):
    # this region's drill role (failover.drill.scheduler_role_arns[home]) only.
    sid       = "PassDrillSchedulerRole"
    actions   = ["iam:PassRole"]
    resources = [local.drill_role_arns[var.region]]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["scheduler.amazonaws.com"]
    }
  }

  statement {
    # Readiness of the peer before a drill: is its surge in place on alias `live`?
    sid       = "ReadProvisionedConcurrency"
    actions   = ["lambda:GetProvisionedConcurrencyConfig"]
    resources = local.managed_alias_arns_everywhere
  }

  statement {
    # The data-plane routing item (`id = "routing"`): read, and written by conditional PutItem
    # (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html),
    # in this region's table only. Both actions take the table ARN as resource
    # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html).
    sid       = "LocalStore"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem"]
    resources = [local.local_store_table_arn]
  }

  statement {
    # Written by the Lambda service for the function, not by its code.
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [local.log_stream_arns["failover"]]
  }
}

data "aws_iam_policy_document" "replication-monitor" {
  # ECR is read through the shared-services role (replication.ecr.role, always set here):
  # ecr:* is granted to that role (replication module), not to this one.
  statement {
    sid       = "AssumeSharedServicesEcrRead"
    actions   = ["sts:AssumeRole"]
    resources = [var.replication.ecr.role_arn]
  }

  statement {
    # GetMetricData has no resource type and no condition key: "*" is the only option
    # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html).
    sid       = "ReadS3ReplicationMetrics"
    actions   = ["cloudwatch:GetMetricData"]
    resources = ["*"]
  }

  statement {
    # PutMetricData has no resource type: "*" narrowed by the namespace condition key
    # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/iam-cw-condition-keys-namespace.html).
    sid       = "PublishMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [local.metrics_namespace]
    }
  }

  statement {
    sid       = "ReadSecretReplication"
    actions   = ["secretsmanager:DescribeSecret"]
    resources = local.secret_arns
  }

  statement {
    sid       = "Alert"
    actions   = ["sns:Publish"]
    resources = [local.alerts_topic_arns[var.region]]
  }

  statement {
    # Its own alert-state parameter (replication.alert_state_parameter), nothing else.
    sid       = "AlertState"
    actions   = ["ssm:GetParameter", "ssm:PutParameter"]
    resources = [local.alert_state_parameter_arn]
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [local.log_stream_arns["replication-monitor"]]
  }
}

data "aws_iam_policy_document" "concurrency-scheduler" {
  statement {
    # Alias `live` of the managed functions (concurrency.targets) in this region only.
    sid = "ManageProvisionedConcurrency"
    actions = [
      "lambda:GetProvisionedConcurrencyConfig",
      "lambda:PutProvisionedConcurrencyConfig",
      "lambda:GetAlias",
    ]
    resources = local.managed_alias_arns_here
  }

  statement {
    # GetAccountSettings (headroom) has no resource type: "*" is the only option
    # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awslambda.html).
    sid       = "AccountHeadroom"
    actions   = ["lambda:GetAccountSettings"]
    resources = ["*"]
  }

  statement {
    # The Resource Groups Tagging API has no resource types: "*" is the only option
    # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsresourcegroupstaggingapi.html).
    sid       = "DiscoverTargets"
    actions   = ["tag:GetResources"]
    resources = ["*"]
  }

  statement {
    sid       = "ReadRoutingState"
    actions   = ["route53:ListResourceRecordSets"]
    resources = [local.state_zone_arn]
  }

  statement {
    # GetMetricData (utilisation) has no resource type and no condition key
    # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html).
    sid       = "ReadUtilization"
    actions   = ["cloudwatch:GetMetricData"]
    resources = ["*"]
  }

  statement {
    # PutMetricData has no resource type: "*" narrowed by the namespace condition key
    # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/iam-cw-condition-keys-namespace.html).
    sid       = "PublishMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [local.metrics_namespace]
    }
  }

  statement {
    sid       = "Alert"
    actions   = ["sns:Publish"]
    resources = [local.alerts_topic_arns[var.region]]
  }

  statement {
    # Its own state parameter (concurrency.state_parameter), nothing else.
    sid       = "SchedulerState"
    actions   = ["ssm:GetParameter", "ssm:PutParameter"]
    resources = [local.concurrency_state_parameter_arn]
  }

  statement {
    # The data-plane routing item, read to surge from it while Route 53 is dark: this
    # region's table only, never written
    # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html).
    sid       = "ReadLocalStore"
    actions   = ["dynamodb:GetItem"]
    resources = [local.local_store_table_arn]
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [local.log_stream_arns["concurrency-scheduler"]]
  }
}

################################################################################
# EventBridge Scheduler: the periodic ticks and the drill-end schedules
################################################################################

data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    sid     = "SchedulerAssume"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  name               = "${local.prefix}-ticks-${var.region}"
  description        = "EventBridge Scheduler: periodic ticks of the control-plane functions in ${var.region}"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "InvokeControlPlane"
    actions   = ["lambda:InvokeFunction"]
    resources = [for f in aws_lambda_function.this : f.arn]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "invoke-control-plane"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}

# The role the one-time "end drill" schedules run as; failover may pass only this role
# (config: failover.drill.scheduler_role_arns).
resource "aws_iam_role" "drill_scheduler" {
  name               = local.drill_role_name
  description        = "EventBridge Scheduler: one-time drill-end schedules created by ${local.function_names["failover"]}"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
  tags               = var.tags

  lifecycle {
    postcondition {
      condition     = self.arn == local.drill_role_arns[var.region]
      error_message = "The drill scheduler role ARN differs from the one rendered into the config."
    }
  }
}

data "aws_iam_policy_document" "drill_scheduler" {
  statement {
    sid       = "InvokeFailover"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.this["failover"].arn]
  }
}

resource "aws_iam_role_policy" "drill_scheduler" {
  name   = "invoke-failover"
  role   = aws_iam_role.drill_scheduler.id
  policy = data.aws_iam_policy_document.drill_scheduler.json
}

################################################################################
# EventBridge: forwarding to the peer regions, DLQ and bus policies
################################################################################

data "aws_iam_policy_document" "events_assume" {
  statement {
    sid     = "EventBridgeAssume"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "forwarder" {
  count = var.enable_peer_forwarding ? 1 : 0

  name               = "${local.prefix}-forwarder-${var.region}"
  description        = "EventBridge: forwards control-plane events from ${var.region} to the peer regions"
  assume_role_policy = data.aws_iam_policy_document.events_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "forwarder" {
  statement {
    sid       = "PutOnPeerBuses"
    actions   = ["events:PutEvents"]
    resources = [for r in local.peers : local.default_bus_arns[r]]
  }
}

resource "aws_iam_role_policy" "forwarder" {
  count = var.enable_peer_forwarding ? 1 : 0

  name   = "put-on-peer-buses"
  role   = aws_iam_role.forwarder[0].id
  policy = data.aws_iam_policy_document.forwarder.json
}

data "aws_iam_policy_document" "dlq" {
  statement {
    sid       = "EventBridgeRuleDeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dlq.arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values = concat(
        [for r in aws_cloudwatch_event_rule.trigger : r.arn],
        [for r in aws_cloudwatch_event_rule.forward_to_peers : r.arn],
      )
    }
  }
}

data "aws_iam_policy_document" "event_bus" {
  count = var.create_event_bus_policy && length(var.ecr_event_source_rule_arns) > 0 ? 1 : 0

  statement {
    sid       = "SharedServicesEcrEvents"
    actions   = ["events:PutEvents"]
    resources = [local.default_bus_arns[var.region]]

    principals {
      type        = "AWS"
      identifiers = distinct([for arn in var.ecr_event_source_rule_arns : "arn:${local.partition}:iam::${split(":", arn)[4]}:root"])
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = var.ecr_event_source_rule_arns
    }
  }
}

################################################################################
# KMS key policy (logs + alerts topic)
################################################################################

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109: key policy: "*" is this key, and the account root must keep administering it (AWS default key policy).
  #checkov:skip=CKV_AWS_111: key policy: "*" is this key, and the account root must keep administering it (AWS default key policy).
  #checkov:skip=CKV_AWS_356: key policy: "*" means this key only; a key policy cannot name its own ARN.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogs"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/aws/lambda/${var.service_name}-*"]
    }
  }

  statement {
    # Alarm actions publish to the encrypted alerts topic.
    sid       = "CloudWatchAlarmsToEncryptedTopic"
    actions   = ["kms:GenerateDataKey*", "kms:Decrypt"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    # The functions publish alerts to the encrypted topic. Granted here (key policy) rather
    # than in their role policies, which mirror exactly what the code calls.
    sid       = "FunctionsPublishToEncryptedTopic"
    actions   = ["kms:GenerateDataKey*", "kms:Decrypt"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [for r in aws_iam_role.function : r.arn]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sns.${var.region}.amazonaws.com"]
    }
  }
}
