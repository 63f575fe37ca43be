################################################################################
# data-plane: what the failover copy of one region (the observer O) needs to keep
# routing when Route 53's control plane (us-east-1) does not answer (issue #16):
#   - the local store: a DynamoDB table in O (same name in every region), where failover
#     keeps one item `id = "routing"` by conditional write;
#   - for each region R that O observes: the probe alarm `<service>-probe-<R>` (on
#     EndpointProbeHealthy{Region=R}, published by failover in O) and the data-plane-gate
#     alarm `<service>-data-plane-gate-<R>` (on DataPlaneGateClosed{Region=R}), which a
#     CLOUDWATCH_METRIC health check of global-routing follows as the third child of R's gate.
# Instantiated once per region (providers = { aws = aws.workload_<region> }), before
# global-routing and the control plane, which take its outputs (no dependency cycle).
################################################################################

data "aws_region" "current" {}

locals {
  # Same name in every region: the config carries a single failover.data_plane.table.
  table_name = "${var.service_name}-controlplane-local"

  probe_alarm_names = { for r in var.observed_regions : r => "${var.service_name}-probe-${r}" }
  gate_alarm_names  = { for r in var.observed_regions : r => "${var.service_name}-data-plane-gate-${r}" }
}

################################################################################
# Local store
################################################################################

# One item (`id = "routing"`), read and written by failover with GetItem and a conditional
# PutItem (ConditionExpression on a numeric `version`, or attribute_not_exists(id) for the
# first write: a write whose condition is false fails and changes nothing,
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html),
# read by concurrency-scheduler. A few requests a minute: on-demand bills per request and
# nothing while idle (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode.html).
# Deliberately regional, not a global table: each copy writes its own region's view, and a
# global table's replication would depend on the very peer that may be dark.
resource "aws_dynamodb_table" "local" {
  #checkov:skip=CKV_AWS_119: encrypted at rest with the AWS managed key aws/dynamodb (server_side_encryption below). A customer-managed key would need a key policy naming the function roles, which the control-plane module creates after this table (it reads the table's name), and kms grants the role policies cannot carry (they mirror exactly the code's calls, tests/iam.rs). The item holds routing state, no secret or personal data.
  name         = local.table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "id"

  attribute {
    name = "id"
    type = "S"
  }

  # Continuous backups, restorable to any second of the recovery period
  # (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/PointInTimeRecovery_Howitworks.html).
  point_in_time_recovery {
    enabled = true
  }

  # Every DynamoDB table is encrypted at rest; enabled = true without a key ARN uses the AWS
  # managed key aws/dynamodb, in this account, whose use CloudTrail logs
  # (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/EncryptionAtRest.html,
  # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/encryption.tutorial.html).
  server_side_encryption {
    enabled = true
  }

  # DeleteTable fails while deletion protection is on: `terraform destroy` must first turn it
  # off (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/WorkingWithTables.Basics.html#WorkingWithTables.Basics.DeletionProtection).
  deletion_protection_enabled = true

  tags = merge(var.tags, { Name = local.table_name })

  lifecycle {
    precondition {
      condition     = data.aws_region.current.name == var.region
      error_message = "var.region must equal the region of the aws provider passed to this module."
    }
  }
}

################################################################################
# Alarms on what failover publishes in this region about the regions it observes
################################################################################

# Missing data (the copy in O did not run): "missing" lets the alarm keep its state until
# every datapoint of the evaluation range is missing, then INSUFFICIENT_DATA; it never
# counts as a failed probe
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarms-and-missing-data).
# No alarm actions: failover hears the state changes on this region's default bus, where
# CloudWatch puts every "CloudWatch Alarm State Change" of an alarm with the alarm's own
# region in the envelope
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html);
# its ARN is in failover.region_alarms (stack: region_alarms), like the Route 53 health alarms.
resource "aws_cloudwatch_metric_alarm" "probe" {
  for_each = local.probe_alarm_names

  alarm_name          = each.value
  alarm_description   = "The HTTPS probes of ${each.key} from ${var.region} (failover.data_plane.probes) have failed for ${var.probe_evaluation_periods} minutes. Failover evacuates ${each.key}."
  namespace           = var.metrics_namespace
  metric_name         = "EndpointProbeHealthy"
  dimensions          = { Region = each.key }
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = var.probe_evaluation_periods
  datapoints_to_alarm = var.probe_evaluation_periods
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "missing"
  tags                = var.tags
}

# The data-plane gate of R, decided in O when Route 53's control plane does not answer.
# "ignore" keeps the current state while failover is silent: a copy that stops publishing
# neither opens nor closes R.
# Route 53 follows this alarm with a CLOUDWATCH_METRIC health check (global-routing): it
# supports alarms on standard-resolution metrics with the Maximum statistic
# (https://docs.aws.amazon.com/Route53/latest/APIReference/API_AlarmIdentifier.html), and
# reports the check unhealthy while the alarm is in ALARM
# (https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html).
resource "aws_cloudwatch_metric_alarm" "data_plane_gate" {
  for_each = local.gate_alarm_names

  alarm_name          = each.value
  alarm_description   = "The data-plane gate of ${each.key}, decided in ${var.region} while Route 53's control plane does not answer: ALARM closes ${each.key} (Route 53 health check ${var.service_name}-data-plane-gate-${each.key}, a child of its gate)."
  namespace           = var.metrics_namespace
  metric_name         = "DataPlaneGateClosed"
  dimensions          = { Region = each.key }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "ignore"
  tags                = var.tags
}
