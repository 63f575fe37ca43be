################################################################################
# global-routing: latency-based records per region, gated by a CALCULATED health
# check whose children are the region's endpoint checks, the control plane's private
# zone with the routing-state TXT record, and the health alarms. Route 53 is global; its health-check metrics live
# in us-east-1, so this module takes the workload account's us-east-1 provider.
################################################################################

data "aws_region" "current" {}

locals {
  regions           = sort(keys(var.endpoints))
  state_zone_name   = coalesce(var.state_zone_name, "controlplane.${var.domain_name}")
  state_record_name = coalesce(var.state_record_name, "_state.${local.state_zone_name}")
  state_vpc_id      = var.state_vpc_id != null ? var.state_vpc_id : aws_vpc.state[0].id

  # The initial routing state, in the format shared::routing::RoutingState::to_txt writes
  # (JSON, quotes escaped inside the TXT string): no region evacuated, epoch 0.
  initial_state = replace(jsonencode({ v = 1, epoch = 0, evacuated = {} }), "\"", "\\\"")

  endpoint_checks = merge([
    for region, e in var.endpoints : {
      "${region}-alb" = { region = region, kind = "alb", fqdn = coalesce(e.alb_health_fqdn, e.alb_dns_name), path = e.alb_health_path }
      "${region}-api" = { region = region, kind = "api", fqdn = coalesce(e.api_health_fqdn, e.api_target_domain_name), path = e.api_health_path }
    }
  ]...)

  region_alarm_names = { for region in local.regions : "${var.service_name}-health-${region}" => region }
}

################################################################################
# Health checks
################################################################################

resource "aws_route53_health_check" "endpoint" {
  for_each = local.endpoint_checks

  type              = "HTTPS"
  fqdn              = each.value.fqdn
  port              = 443
  resource_path     = each.value.path
  enable_sni        = true
  request_interval  = var.health_check.request_interval
  failure_threshold = var.health_check.failure_threshold
  measure_latency   = var.health_check.measure_latency
  regions           = var.health_check.regions

  tags = merge(var.tags, { Name = "${var.service_name}-${each.value.kind}-${each.value.region}" })

  lifecycle {
    precondition {
      condition     = data.aws_region.current.name == "us-east-1"
      error_message = "global-routing must use a us-east-1 provider: Route 53 health-check metrics and their alarms live there."
    }
  }
}

# The data-plane gate of each region R (issue #16): a health check that follows the alarm
# `<service>-data-plane-gate-<R>`, which lives in R's observer region O (data-plane module,
# var.data_plane_gate_alarms), not in R and not in us-east-1. Route 53 reports it unhealthy
# while the alarm is in ALARM, and with InsufficientDataHealthStatus = LastKnownStatus it
# keeps its last status while CloudWatch in O has no data (a dark O neither opens nor closes
# R; a new check with no last status starts healthy)
# (https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/health-checks-creating-values.html#health-checks-creating-values-cloudwatch,
# https://docs.aws.amazon.com/Route53/latest/APIReference/API_HealthCheckConfig.html,
# https://docs.aws.amazon.com/Route53/latest/APIReference/API_AlarmIdentifier.html).
# Route 53 reads the alarm's state from CloudWatch in O itself: nothing of ours runs for it.
resource "aws_route53_health_check" "data_plane_gate" {
  for_each = var.data_plane_gate_alarms

  type                            = "CLOUDWATCH_METRIC"
  cloudwatch_alarm_name           = each.value.alarm_name
  cloudwatch_alarm_region         = each.value.alarm_region
  insufficient_data_health_status = "LastKnownStatus"

  tags = merge(var.tags, { Name = "${var.service_name}-data-plane-gate-${each.key}" })

  lifecycle {
    precondition {
      condition     = each.value.alarm_region != each.key
      error_message = "The data-plane gate alarm of a region must live in its observer region, not in the region it gates."
    }
  }
}

# The gate: healthy only while all of the region's children are (the ALB and API endpoint
# checks and the data-plane gate: a CALCULATED check is healthy while at least
# HealthThreshold children are,
# https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html).
# The failover function evacuates a region by raising the threshold above the child count
# (Route 53 then reports the check unhealthy) and restores it by setting it back to the child
# count, so Terraform must not fight it. Because of that ignore, adding a child does not
# change the threshold of an existing gate: failover's reconciliation sets it (children, or
# children + 1 for an evacuated region) on its next tick.
resource "aws_route53_health_check" "gate" {
  for_each = var.endpoints

  type = "CALCULATED"
  child_healthchecks = [
    aws_route53_health_check.endpoint["${each.key}-alb"].id,
    aws_route53_health_check.endpoint["${each.key}-api"].id,
    aws_route53_health_check.data_plane_gate[each.key].id,
  ]
  child_health_threshold = 3

  tags = merge(var.tags, { Name = "${var.service_name}-gate-${each.key}", "controlplane:gate" = each.key })

  lifecycle {
    ignore_changes = [child_health_threshold]

    precondition {
      condition     = contains(keys(var.data_plane_gate_alarms), each.key)
      error_message = "data_plane_gate_alarms must name the data-plane-gate alarm of every region in endpoints."
    }
  }
}

################################################################################
# Latency-based records, each carrying its region's gate
################################################################################

resource "aws_route53_record" "service" {
  #checkov:skip=CKV2_AWS_23: the alias targets (ALB, API Gateway custom domain) are the workload's, owned by its own stack and passed in as inputs; checkov cannot see them.
  for_each = var.endpoints

  zone_id         = var.hosted_zone_id
  name            = var.domain_name
  type            = "A"
  set_identifier  = "${var.service_name}-${each.key}"
  health_check_id = aws_route53_health_check.gate[each.key].id

  latency_routing_policy {
    region = each.key
  }

  alias {
    name                   = each.value.alb_dns_name
    zone_id                = each.value.alb_zone_id
    evaluate_target_health = true
  }
}

resource "aws_route53_record" "api" {
  #checkov:skip=CKV2_AWS_23: the alias targets (ALB, API Gateway custom domain) are the workload's, owned by its own stack and passed in as inputs; checkov cannot see them.
  for_each = var.endpoints

  zone_id         = var.hosted_zone_id
  name            = var.api_domain_name
  type            = "A"
  set_identifier  = "${var.service_name}-api-${each.key}"
  health_check_id = aws_route53_health_check.gate[each.key].id

  latency_routing_policy {
    region = each.key
  }

  alias {
    name                   = each.value.api_target_domain_name
    zone_id                = each.value.api_hosted_zone_id
    evaluate_target_health = true
  }
}

################################################################################
# The routing state: a private hosted zone of the control plane's own
################################################################################

# The routing state names operators, accounts, alarms and drill windows: it is not for
# the public zone, whose records anyone can read with a DNS query. A private hosted zone
# answers DNS only inside the VPCs associated with it, while its records are read and
# changed through the same Route 53 API (ListResourceRecordSets,
# ChangeResourceRecordSets) the functions already call.
# https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/hosted-zones-private.html
# A private zone must be associated with at least one VPC of the same account, whose
# enableDnsSupport and enableDnsHostnames are true:
# https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/hosted-zone-private-creating.html
# https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/hosted-zone-private-considerations.html
# Without a VPC given (state_vpc_id), the zone gets one of its own: no subnets, no
# gateways, nothing running in it, and no charge for a VPC as such.
resource "aws_vpc" "state" {
  #checkov:skip=CKV2_AWS_11: the VPC has no subnets and no network interfaces; it exists only to hold the private zone, so there is no traffic to log.
  count = var.state_vpc_id == null ? 1 : 0

  cidr_block           = var.state_vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = merge(var.tags, { Name = "${var.service_name}-controlplane-state" })
}

# The VPC's default security group, with every rule removed.
resource "aws_default_security_group" "state" {
  count = var.state_vpc_id == null ? 1 : 0

  vpc_id = aws_vpc.state[0].id
  tags   = merge(var.tags, { Name = "${var.service_name}-controlplane-state-default" })
}

resource "aws_route53_zone" "state" {
  #checkov:skip=CKV2_AWS_39: query logging of private zones goes through Route 53 Resolver in the associated VPC; nothing resolves in this VPC, and the functions read the record through the Route 53 API (logged by CloudTrail).
  #checkov:skip=CKV2_AWS_38: DNSSEC signing applies to public zones only.
  name    = local.state_zone_name
  comment = "${var.service_name} control plane: routing state, readable by the control plane only"

  vpc {
    vpc_id     = local.state_vpc_id
    vpc_region = data.aws_region.current.name
  }

  tags = var.tags
}

# The desired routing state. Created once with "nothing evacuated"; from then on the
# failover function owns it (compare-and-swap ChangeBatches), so Terraform ignores it.
resource "aws_route53_record" "routing_state" {
  zone_id = aws_route53_zone.state.zone_id
  name    = local.state_record_name
  type    = "TXT"
  ttl     = var.record_ttl
  records = [local.initial_state]

  lifecycle {
    ignore_changes = [records]
  }
}

################################################################################
# Alarms (us-east-1): one per endpoint check, and one region-health alarm per region
################################################################################

resource "aws_cloudwatch_metric_alarm" "endpoint" {
  for_each = local.endpoint_checks

  alarm_name          = "${var.service_name}-endpoint-${each.value.kind}-${each.value.region}"
  alarm_description   = "Route 53 health check of the ${each.value.kind} endpoint in ${each.value.region} (${each.value.fqdn}) is failing."
  namespace           = "AWS/Route53"
  metric_name         = "HealthCheckStatus"
  dimensions          = { HealthCheckId = aws_route53_health_check.endpoint[each.key].id }
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "missing"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}

# <service>-health-<region>: ALARM when any endpoint of the region has been failing for
# region_health_evaluation_periods minutes. Its state changes reach the failover functions
# through EventBridge ("CloudWatch Alarm State Change", forwarded to the peer region by the
# control-plane module), which also works for the copy in eu-central-1.
resource "aws_cloudwatch_metric_alarm" "region_health" {
  for_each = local.region_alarm_names

  alarm_name          = each.key
  alarm_description   = "Region ${each.value} is unhealthy (an ALB or API Gateway health check is failing). Failover evacuates it."
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  evaluation_periods  = var.region_health_evaluation_periods
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags

  metric_query {
    id          = "healthy"
    expression  = "MIN([alb, api])"
    label       = "All endpoints of ${each.value} healthy"
    return_data = true
  }

  metric_query {
    id = "alb"

    metric {
      namespace   = "AWS/Route53"
      metric_name = "HealthCheckStatus"
      dimensions  = { HealthCheckId = aws_route53_health_check.endpoint["${each.value}-alb"].id }
      period      = 60
      stat        = "Minimum"
    }
  }

  metric_query {
    id = "api"

    metric {
      namespace   = "AWS/Route53"
      metric_name = "HealthCheckStatus"
      dimensions  = { HealthCheckId = aws_route53_health_check.endpoint["${each.value}-api"].id }
      period      = 60
      stat        = "Minimum"
    }
  }
}
