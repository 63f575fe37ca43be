################################################################################
# control-plane: the three Rust functions of one region, their triggers, alerts
# and alarms. Instantiated once per region (providers = { aws = aws.workload_<region> });
# every name carries the region so the two copies never collide.
################################################################################

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  prefix     = "${var.service_name}-controlplane"
  peers      = [for r in var.regions : r if r != var.region]

  metrics_namespace = "ControlPlane"
  bus_name          = "default"

  # Names that must be predictable in *every* region (the config lists them for all regions,
  # and each region's copy of this module creates only its own).
  alerts_topic_name    = "${local.prefix}-alerts-${var.region}"
  alerts_topic_arns    = { for r in var.regions : r => "arn:${local.partition}:sns:${r}:${local.account_id}:${local.prefix}-alerts-${r}" }
  drill_role_name      = "${local.prefix}-scheduler-${var.region}"
  drill_role_arns      = { for r in var.regions : r => "arn:${local.partition}:iam::${local.account_id}:role/${local.prefix}-scheduler-${r}" }
  default_bus_arns     = { for r in var.regions : r => "arn:${local.partition}:events:${r}:${local.account_id}:event-bus/${local.bus_name}" }
  ssm_parameter_prefix = "/controlplane/${var.service_name}"
  # The state documents replication-monitor and concurrency-scheduler keep (each its own).
  alert_state_parameter       = "${local.ssm_parameter_prefix}/replication-alert-state"
  concurrency_state_parameter = "${local.ssm_parameter_prefix}/concurrency-state"
  # Scheduler group names are regional, so the drill group has the same name in every region:
  # the config carries a single `failover.drill.schedule_group`.
  drill_schedule_group = "${local.prefix}-drills"

  function_names = {
    failover              = "${var.service_name}-failover-${var.region}"
    replication-monitor   = "${var.service_name}-replication-monitor-${var.region}"
    concurrency-scheduler = "${var.service_name}-concurrency-scheduler-${var.region}"
  }

  # package = folder = binary name; `make build` writes target/lambda/<key>/bootstrap.zip.
  functions = {
    failover = {
      name        = local.function_names["failover"]
      description = "Evacuates and restores regions by closing and opening the Route 53 gate health checks."
      # Room for every run at once, not a lock: writers are serialised by the compare-and-swap
      # on the state record (the loser re-reads and re-decides), and gates are reconciled to
      # it. 5 = the every-minute tick + two event runs (an alarm from each region, or an alarm
      # and a drill-end schedule) + an operator's manual action + a drill run, which waits up
      # to ~35 s for the peer's surge. At 1 an operator's synchronous Invoke got 429
      # TooManyRequestsException whenever another run was under way (ctl retries a 429 a few
      # times; asynchronous events are retried by Lambda).
      reserved_concurrency = 5
      timeout              = var.timeout_seconds.failover
      schedule             = "rate(1 minute)"
      # Asynchronous invocations (tick, alarm events, drill-end schedules): level-triggered,
      # the next tick a minute later re-reads everything, so an event older than a minute
      # is stale and a retry is the next tick.
      async_max_event_age = 60
      async_retries       = 0
    }
    replication-monitor = {
      name                 = local.function_names["replication-monitor"]
      description          = "Measures ECR, S3 and Secrets Manager replication and publishes ReplicationReady."
      reserved_concurrency = var.replication_monitor_reserved_concurrency
      timeout              = var.timeout_seconds.replication_monitor
      schedule             = "rate(5 minutes)"
      # Sweeps every 5 minutes and ECR push events: the next sweep covers a push event
      # older than one period; one retry fits inside it.
      async_max_event_age = 300
      async_retries       = 1
    }
    concurrency-scheduler = {
      name                 = local.function_names["concurrency-scheduler"]
      description          = "Owns provisioned concurrency on the workload aliases (baseline, windows, surge)."
      reserved_concurrency = 1 # one copy at a time per region
      timeout              = var.timeout_seconds.concurrency_scheduler
      schedule             = "rate(5 minutes)"
      # Ticks every 5 minutes and failover's events (surge): the tick re-reads the routing
      # state, so an event older than one period is superseded; one retry fits inside it.
      async_max_event_age = 300
      async_retries       = 1
    }
  }

  # The seed's provisioned concurrency on the workload alias, by environment: the one place
  # for it (shared::config::Environment::baseline_concurrency agrees; tests/infra.rs).
  baseline_concurrency = { prod = 2, dev = 1 }

  # What the config's `concurrency` section and the seed's provisioned concurrency (the
  # workload-concurrency module, fed from output concurrency_seed) must agree on.
  concurrency_seed = {
    alias               = var.concurrency.alias
    baseline            = coalesce(var.concurrency.baseline, local.baseline_concurrency[var.environment])
    discovery_tag_key   = var.concurrency.discovery_tag_key
    discovery_tag_value = var.concurrency.discovery_tag_value
  }

  # Kept apart from local.functions: the documents reference names derived from it.
  function_policies = {
    failover              = data.aws_iam_policy_document.failover.json
    replication-monitor   = data.aws_iam_policy_document.replication-monitor.json
    concurrency-scheduler = data.aws_iam_policy_document.concurrency-scheduler.json
  }

  # The document every function reads at start (CONTROL_PLANE_CONFIG). Its key set must equal
  # config/example.json's: tests/infra.rs checks it, shared/src/config.rs rejects unknown keys.
  config = {
    environment       = var.environment
    service_name      = var.service_name
    regions           = var.regions
    allowed_accounts  = distinct(concat([local.account_id], var.allowed_accounts))
    alerts_topic_arns = local.alerts_topic_arns
    event_bus_name    = local.bus_name
    metrics_namespace = local.metrics_namespace
    failover = {
      hosted_zone_id                     = var.hosted_zone_id
      state_zone_id                      = var.state_zone_id
      state_record_name                  = var.state_record_name
      operator_roles                     = var.operator_role_arns
      gate_health_checks                 = var.gate_health_check_ids
      region_alarms                      = var.region_alarms
      min_active_regions                 = var.failover.min_active_regions
      dwell                              = var.failover.dwell
      max_automatic_evacuations_per_hour = var.failover.max_automatic_evacuations_per_hour
      failback = {
        automatic  = var.failover.failback_automatic
        stable_for = var.failover.failback_stable_for
      }
      readiness = {
        require_replication_ready = var.failover.require_replication_ready
        max_age                   = var.failover.readiness_max_age
      }
      drill = {
        default_duration    = var.failover.drill_default_duration
        max_duration        = var.failover.drill_max_duration
        surge_wait          = var.failover.drill_surge_wait
        schedule_group      = local.drill_schedule_group
        scheduler_role_arns = local.drill_role_arns
      }
      data_plane = {
        table         = var.data_plane.table
        observers     = var.data_plane.observers
        probes        = var.data_plane.probes
        probe_timeout = var.data_plane.probe_timeout
      }
    }
    replication = {
      window                = var.replication.window
      alert_state_parameter = local.alert_state_parameter
      ecr = {
        registry_id         = var.replication.ecr.registry_id
        source_region       = var.replication.ecr.source_region
        repositories        = var.replication.ecr.repositories
        destination_regions = var.replication.ecr.destination_regions
        role = {
          role_arn    = var.replication.ecr.role_arn
          external_id = var.replication.ecr.external_id
        }
        lag_threshold    = var.replication.ecr.lag_threshold
        failed_threshold = var.replication.ecr.failed_threshold
      }
      s3 = {
        rules = [for rule in var.replication.s3.rules : {
          source_bucket      = rule.source_bucket
          destination_bucket = rule.destination_bucket
          rule_id            = rule.rule_id
          source_region      = rule.source_region
          destination_region = rule.destination_region
        }]
        lag_threshold     = var.replication.s3.lag_threshold
        failed_threshold  = var.replication.s3.failed_threshold
        pending_threshold = var.replication.s3.pending_threshold
      }
      secrets = {
        source_region    = var.replication.secrets.source_region
        secret_ids       = var.replication.secrets.secret_ids
        lag_threshold    = var.replication.secrets.lag_threshold
        failed_threshold = var.replication.secrets.failed_threshold
      }
    }
    concurrency = {
      alias        = local.concurrency_seed.alias
      baseline     = local.concurrency_seed.baseline
      min          = var.concurrency.min
      max          = var.concurrency.max
      surge_factor = var.concurrency.surge_factor
      windows = [for w in var.concurrency.windows : {
        name     = w.name
        cron     = w.cron
        duration = w.duration
        timezone = w.timezone
        level    = w.level
      }]
      utilization = {
        enabled = var.concurrency.utilization_enabled
        window  = var.concurrency.utilization_window
        target  = var.concurrency.utilization_target
      }
      targets = [for t in var.concurrency.targets : {
        function = t.function
        regions  = t.regions
      }]
      discovery = {
        tag_key   = local.concurrency_seed.discovery_tag_key
        tag_value = local.concurrency_seed.discovery_tag_value
      }
      requests_per_second = var.concurrency.requests_per_second
      max_in_flight       = var.concurrency.max_in_flight
      ready_timeout       = var.concurrency.ready_timeout
      state_parameter     = local.concurrency_state_parameter
    }
  }

  config_json = jsonencode(local.config)
}

################################################################################
# Encryption: one customer-managed key per region for logs and the alerts topic
################################################################################

resource "aws_kms_key" "this" {
  description             = "${local.prefix} ${var.region}: CloudWatch Logs and SNS alerts"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${local.prefix}-${var.region}"
  target_key_id = aws_kms_key.this.key_id
}

################################################################################
# Alerts topic (KMS-encrypted) and the asynchronous-invocation DLQ
################################################################################

resource "aws_sns_topic" "alerts" {
  name              = local.alerts_topic_name
  kms_master_key_id = aws_kms_key.this.arn
  tags              = var.tags

  lifecycle {
    postcondition {
      condition     = self.arn == local.alerts_topic_arns[var.region]
      error_message = "The alerts topic ARN differs from the one rendered into the config."
    }
  }
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.alert_emails)

  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_sqs_queue" "dlq" {
  name                      = "${local.prefix}-dlq-${var.region}"
  message_retention_seconds = 1209600 # 14 days: time to look at a failed event
  sqs_managed_sse_enabled   = true
  tags                      = var.tags
}

################################################################################
# Functions
################################################################################

resource "aws_cloudwatch_log_group" "this" {
  for_each = local.functions

  name              = "/aws/lambda/${each.value.name}"
  retention_in_days = var.log_retention_in_days
  kms_key_id        = aws_kms_key.this.arn
  tags              = var.tags
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_117: the functions call only public AWS APIs; a VPC would add NAT/endpoints and a failure mode exactly when a region is impaired.
  #checkov:skip=CKV_AWS_50: X-Ray tracing is off: the decision record logged by every invocation is the trace, and tracing would add xray:* to roles that must grant exactly the actions the code calls.
  #checkov:skip=CKV_AWS_272: code signing is not used; the zips come from `make build` in CI and are pinned by source_code_hash.
  #checkov:skip=CKV_AWS_116: failures of asynchronous invocations go to the SQS queue through the on_failure destination (aws_lambda_function_event_invoke_config), which carries more context than dead_letter_config.
  #checkov:skip=CKV_AWS_173: the environment holds only the non-secret config document; it is encrypted at rest with the AWS-managed Lambda key.
  for_each = local.functions

  function_name                  = each.value.name
  description                    = each.value.description
  role                           = aws_iam_role.function[each.key].arn
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = [var.architecture]
  filename                       = "${var.artifacts_dir}/${each.key}/bootstrap.zip"
  source_code_hash               = filebase64sha256("${var.artifacts_dir}/${each.key}/bootstrap.zip")
  memory_size                    = var.memory_size
  timeout                        = each.value.timeout
  reserved_concurrent_executions = each.value.reserved_concurrency

  environment {
    variables = {
      CONTROL_PLANE_CONFIG = jsonencode(local.config)
    }
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.this[each.key].name
    application_log_level = var.application_log_level
    system_log_level      = "WARN"
  }

  tags = merge(var.tags, { "controlplane:function" = each.key })

  depends_on = [
    aws_cloudwatch_log_group.this,
    aws_iam_role_policy.function,
    aws_iam_role_policy.async_destination,
  ]

  lifecycle {
    precondition {
      condition     = data.aws_region.current.name == var.region
      error_message = "var.region must equal the region of the aws provider passed to this module."
    }
    precondition {
      # Every region has an observer and probes (failover.data_plane).
      condition     = toset(keys(var.data_plane.observers)) == toset(var.regions) && alltrue([for r in var.regions : contains(keys(var.data_plane.probes), r)])
      error_message = "data_plane.observers and data_plane.probes must name every region of var.regions."
    }
    precondition {
      # Lambda allows 4 KB of environment variables in total.
      condition     = length(local.config_json) < 3900
      error_message = "The rendered CONTROL_PLANE_CONFIG is too large for a Lambda environment variable; store it in SSM and set CONTROL_PLANE_CONFIG_SSM instead."
    }
  }
}

# Every trigger invokes asynchronously (Scheduler, EventBridge rules). Lambda retries a failed
# asynchronous invocation up to maximum_retry_attempts times (0-2) and keeps it queued up to
# maximum_event_age_in_seconds (60 s to 6 h); an event that fails every attempt or grows too old
# goes to the on_failure destination, this region's SQS queue, with the request, the response
# and the reason
# (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html,
# https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-lambda-eventinvokeconfig.html).
# The age and the retries follow each function's triggers (local.functions).
resource "aws_lambda_function_event_invoke_config" "this" {
  for_each = local.functions

  function_name                = aws_lambda_function.this[each.key].function_name
  maximum_retry_attempts       = each.value.async_retries
  maximum_event_age_in_seconds = each.value.async_max_event_age

  destination_config {
    on_failure {
      destination = aws_sqs_queue.dlq.arn
    }
  }
}

################################################################################
# Schedules (EventBridge Scheduler): failover every minute, the others every 5
################################################################################

resource "aws_scheduler_schedule_group" "this" {
  name = "${local.prefix}-${var.region}"
  tags = var.tags
}

# Where failover creates the one-time "end drill" schedules.
resource "aws_scheduler_schedule_group" "drills" {
  name = local.drill_schedule_group
  tags = var.tags
}

resource "aws_scheduler_schedule" "tick" {
  #checkov:skip=CKV_AWS_297: the schedule input is a fixed, non-secret tick document; the AWS-owned key suffices.
  for_each = var.enable_schedules ? local.functions : {}

  name                         = "${each.value.name}-tick"
  group_name                   = aws_scheduler_schedule_group.this.name
  description                  = "Periodic tick for ${each.value.name}"
  schedule_expression          = each.value.schedule
  schedule_expression_timezone = "UTC"

  # Up to a minute late, at random: the copies in every region do not all fire on the same second
  # (https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-flexible-time-windows.html).
  flexible_time_window {
    mode                      = "FLEXIBLE"
    maximum_window_in_minutes = 1
  }

  target {
    arn      = aws_lambda_function.this[each.key].arn
    role_arn = aws_iam_role.scheduler.arn
    input = jsonencode({
      task           = "tick"
      schedule_arn   = "<aws.scheduler.schedule-arn>"
      scheduled_time = "<aws.scheduler.scheduled-time>"
    })

    retry_policy {
      maximum_retry_attempts       = 0  # the next tick is the retry
      maximum_event_age_in_seconds = 60 # never deliver a stale tick
    }
  }
}

################################################################################
# EventBridge rules on this region's default bus, each invoking one function
################################################################################

locals {
  # One entry per trigger: its rule, the function it invokes (target and permission) and
  # how long EventBridge retries before the DLQ. Keyed by the trigger's former resource name.
  # Every pattern names the account and the region an event must come from: a pattern matches
  # the envelope's `account` and `region` exactly, and fields it omits match anything
  # (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html), so an
  # event put on this bus from elsewhere never reaches a function.
  event_triggers = {
    # ECR pushes happen in shared-services (eu-central-1); the rule there (the replication
    # module's `aws_cloudwatch_event_rule.ecr_push`) forwards them to this bus, which the bus
    # policy below allows.
    ecr_image_push = {
      name         = "${local.prefix}-ecr-push-${var.region}"
      description  = "ECR image pushes (forwarded from shared-services) -> replication-monitor"
      function     = "replication-monitor"
      statement_id = "AllowEcrImagePushRule"
      event_pattern = jsonencode({
        source        = ["aws.ecr"]
        "detail-type" = ["ECR Image Action"]
        account       = [var.replication.ecr.registry_id]
        region        = [var.replication.ecr.source_region]
        detail = {
          "action-type"     = ["PUSH"]
          result            = ["SUCCESS"]
          "repository-name" = var.replication.ecr.repositories
        }
      })
      maximum_event_age_in_seconds = 3600
    }
    # The failover function of either region emits these on its own region's default bus;
    # the forwarding rules below copy them to the peer, so both schedulers see both.
    failover_events = {
      name         = "${local.prefix}-failover-events-${var.region}"
      description  = "controlplane.failover events (both regions) -> concurrency-scheduler"
      function     = "concurrency-scheduler"
      statement_id = "AllowFailoverEventsRule"
      event_pattern = jsonencode({
        source        = ["controlplane.failover"]
        "detail-type" = ["Region Evacuated", "Region Restored", "Drill Started", "Drill Ended"]
        account       = [local.account_id]
        region        = var.regions
      })
      maximum_event_age_in_seconds = 900
    }
    # Region-health alarms live in us-east-1 (Route 53 metrics exist only there). Their state
    # changes reach us-east-1's bus directly and eu-central-1's through the forwarding rule.
    # The data-plane probe alarms (`<service>-probe-<R>`, also in region_alarms) live in R's
    # observer region: CloudWatch puts their state changes on that region's default bus, the
    # envelope's `region` being the alarm's
    # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html),
    # so `region` lists every alarm's region and each copy hears the probe alarms of its own
    # region directly.
    # Matched by ARN (the event's `resources`): a name alone repeats across accounts and regions.
    region_health_alarms = {
      name         = "${local.prefix}-region-health-${var.region}"
      description  = "Region-health alarm state changes -> failover"
      function     = "failover"
      statement_id = "AllowRegionHealthAlarmRule"
      event_pattern = jsonencode({
        source        = ["aws.cloudwatch"]
        "detail-type" = ["CloudWatch Alarm State Change"]
        account       = [local.account_id]
        region        = distinct([for arn in keys(var.region_alarms) : split(":", arn)[3]])
        resources     = keys(var.region_alarms)
      })
      maximum_event_age_in_seconds = 600
    }
  }
}

resource "aws_cloudwatch_event_rule" "trigger" {
  for_each = local.event_triggers

  name           = each.value.name
  description    = each.value.description
  event_bus_name = local.bus_name
  event_pattern  = each.value.event_pattern
  tags           = var.tags
}

resource "aws_cloudwatch_event_target" "trigger" {
  for_each = local.event_triggers

  rule           = aws_cloudwatch_event_rule.trigger[each.key].name
  event_bus_name = local.bus_name
  target_id      = each.value.function
  arn            = aws_lambda_function.this[each.value.function].arn

  retry_policy {
    maximum_retry_attempts       = 4
    maximum_event_age_in_seconds = each.value.maximum_event_age_in_seconds
  }

  dead_letter_config {
    arn = aws_sqs_queue.dlq.arn
  }
}

resource "aws_lambda_permission" "trigger" {
  for_each = local.event_triggers

  statement_id   = each.value.statement_id
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.this[each.value.function].function_name
  principal      = "events.amazonaws.com"
  source_arn     = aws_cloudwatch_event_rule.trigger[each.key].arn
  source_account = local.account_id
}

# The three triggers were separate resources: existing state moves, nothing is replaced.
moved {
  from = aws_cloudwatch_event_rule.ecr_image_push
  to   = aws_cloudwatch_event_rule.trigger["ecr_image_push"]
}
moved {
  from = aws_cloudwatch_event_target.ecr_image_push
  to   = aws_cloudwatch_event_target.trigger["ecr_image_push"]
}
moved {
  from = aws_lambda_permission.ecr_image_push
  to   = aws_lambda_permission.trigger["ecr_image_push"]
}
moved {
  from = aws_cloudwatch_event_rule.failover_events
  to   = aws_cloudwatch_event_rule.trigger["failover_events"]
}
moved {
  from = aws_cloudwatch_event_target.failover_events
  to   = aws_cloudwatch_event_target.trigger["failover_events"]
}
moved {
  from = aws_lambda_permission.failover_events
  to   = aws_lambda_permission.trigger["failover_events"]
}
moved {
  from = aws_cloudwatch_event_rule.region_health_alarms
  to   = aws_cloudwatch_event_rule.trigger["region_health_alarms"]
}
moved {
  from = aws_cloudwatch_event_target.region_health_alarms
  to   = aws_cloudwatch_event_target.trigger["region_health_alarms"]
}
moved {
  from = aws_lambda_permission.region_health_alarms
  to   = aws_lambda_permission.trigger["region_health_alarms"]
}

resource "aws_sqs_queue_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  policy    = data.aws_iam_policy_document.dlq.json
}

################################################################################
# Cross-region forwarding to the peer regions' default buses
################################################################################

# Only events that originated in this region (`region` is kept when an event is forwarded),
# so a forwarded event is never sent back: no loops. Of the alarms, only
# var.forwarded_alarm_arns (the Route 53 region-health alarms): the data-plane probe alarms
# stay on their own region's bus, where the observer that acts on them hears them; the copy
# in the region a probe alarm reports as failing reads it with DescribeAlarms on its tick.
resource "aws_cloudwatch_event_rule" "forward_to_peers" {
  count = var.enable_peer_forwarding ? 1 : 0

  name           = "${local.prefix}-forward-${var.region}"
  description    = "This region's failover events and region-health alarm changes -> the peer regions' default buses"
  event_bus_name = local.bus_name
  event_pattern = jsonencode({
    region  = [var.region]
    account = [local.account_id]
    "$or" = [
      {
        source        = ["controlplane.failover"]
        "detail-type" = ["Region Evacuated", "Region Restored", "Drill Started", "Drill Ended"]
      },
      {
        source        = ["aws.cloudwatch"]
        "detail-type" = ["CloudWatch Alarm State Change"]
        resources     = var.forwarded_alarm_arns
      },
    ]
  })
  tags = var.tags

  lifecycle {
    precondition {
      condition     = length(setsubtract(var.forwarded_alarm_arns, keys(var.region_alarms))) == 0
      error_message = "forwarded_alarm_arns must be alarms of region_alarms."
    }
  }
}

resource "aws_cloudwatch_event_target" "forward_to_peers" {
  for_each = var.enable_peer_forwarding ? toset(local.peers) : toset([])

  rule           = aws_cloudwatch_event_rule.forward_to_peers[0].name
  event_bus_name = local.bus_name
  target_id      = "default-bus-${each.value}"
  arn            = local.default_bus_arns[each.value]
  role_arn       = aws_iam_role.forwarder[0].arn

  retry_policy {
    maximum_retry_attempts       = 8
    maximum_event_age_in_seconds = 900
  }

  dead_letter_config {
    arn = aws_sqs_queue.dlq.arn
  }
}

# Lets the shared-services forwarding rules put ECR events on this bus (cross-account).
resource "aws_cloudwatch_event_bus_policy" "default" {
  count = var.create_event_bus_policy && length(var.ecr_event_source_rule_arns) > 0 ? 1 : 0

  event_bus_name = local.bus_name
  policy         = data.aws_iam_policy_document.event_bus[0].json
}

################################################################################
# Alarms on the ControlPlane metrics and on the functions themselves -> alerts topic
################################################################################

resource "aws_cloudwatch_metric_alarm" "region_active" {
  for_each = toset(var.regions)

  alarm_name          = "${local.prefix}-region-active-${each.value}-${var.region}"
  alarm_description   = "Region ${each.value} is evacuated (RegionActive < 1), as seen from ${var.region}."
  namespace           = local.metrics_namespace
  metric_name         = "RegionActive"
  dimensions          = { Region = each.value }
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 2
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "replication_ready" {
  for_each = toset(var.regions)

  alarm_name          = "${local.prefix}-replication-ready-${each.value}-${var.region}"
  alarm_description   = "Replication toward ${each.value} is not ready: failover would refuse to evacuate toward it."
  namespace           = local.metrics_namespace
  metric_name         = "ReplicationReady"
  dimensions          = { DestinationRegion = each.value }
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 2
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "replication_lag" {
  for_each = {
    for pair in setproduct(["ecr", "s3", "secrets"], local.replication_destinations) :
    "${pair[0]}-${pair[1]}" => { kind = pair[0], destination = pair[1] }
  }

  alarm_name          = "${local.prefix}-replication-lag-${each.key}-${var.region}"
  alarm_description   = "${each.value.kind} replication toward ${each.value.destination} lags more than ${var.replication_lag_alarm_threshold_seconds}s."
  namespace           = local.metrics_namespace
  metric_name         = "ReplicationLagSeconds"
  dimensions          = { Kind = each.value.kind, DestinationRegion = each.value.destination }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.replication_lag_alarm_threshold_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
  tags                = var.tags
}

# Anything in the queue is an event that reached no function: a failed asynchronous invocation
# (on_failure destination) or an event EventBridge could not deliver (target DLQ). One is enough
# to alert. SQS publishes ApproximateNumberOfMessagesVisible every minute
# (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html).
resource "aws_cloudwatch_metric_alarm" "dlq_depth" {
  alarm_name          = "${local.prefix}-dlq-depth-${var.region}"
  alarm_description   = "Events that reached no control-plane function in ${var.region} wait in ${aws_sqs_queue.dlq.name}: read them, fix the cause, then purge or redrive."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dlq.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "action_failed" {
  for_each = local.functions

  alarm_name          = "${each.value.name}-action-failed"
  alarm_description   = "${each.key} reported a failed action (ActionFailed >= 1)."
  namespace           = local.metrics_namespace
  metric_name         = "ActionFailed"
  dimensions          = { Function = each.key }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "lambda" {
  for_each = {
    for pair in setproduct(keys(local.functions), ["Errors", "Throttles"]) :
    "${pair[0]}-${lower(pair[1])}" => { function = pair[0], metric = pair[1] }
  }

  alarm_name          = "${local.functions[each.value.function].name}-${lower(each.value.metric)}"
  alarm_description   = "Lambda ${each.value.metric} of ${local.functions[each.value.function].name}."
  namespace           = "AWS/Lambda"
  metric_name         = each.value.metric
  dimensions          = { FunctionName = aws_lambda_function.this[each.value.function].function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  tags                = var.tags
}

locals {
  replication_destinations = distinct(concat(
    var.replication.ecr.destination_regions,
    [for rule in var.replication.s3.rules : rule.destination_region],
    [for r in var.regions : r if r != var.replication.secrets.source_region],
  ))
}
