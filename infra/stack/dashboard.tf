################################################################################
# The operator's view: one CloudWatch dashboard per environment showing at a glance what
# `ctl status` shows, for both regions. Dashboards are global to the account; each widget
# names the Region its metrics live in (body syntax:
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html).
# Every metric plotted is one the functions publish (namespace ControlPlane) or AWS does:
# Route 53's HealthCheckStatus in us-east-1
# (https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/monitoring-health-checks.html), Lambda's
# Errors/Throttles (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html) and
# SQS's ApproximateNumberOfMessagesVisible
# (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html).
# tests/dashboard.rs checks each against the code's own metric names and dimensions.
################################################################################

locals {
  dashboard_copies = {
    (local.primary.region) = {
      functions = module.control_plane_eu_central_1.function_names
      dlq       = module.control_plane_eu_central_1.dlq_name
      alarms    = module.control_plane_eu_central_1.alarm_arns
    }
    (local.secondary.region) = {
      functions = module.control_plane_us_east_1.function_names
      dlq       = module.control_plane_us_east_1.dlq_name
      alarms    = module.control_plane_us_east_1.alarm_arns
    }
  }
  # Route 53 publishes health-check metrics in us-east-1 only.
  route53_metrics_region = "us-east-1"

  dashboard_widgets = [
    {
      type = "text", x = 0, y = 0, width = 24, height = 2
      properties = {
        markdown = "## ${var.service_name} control plane (${var.environment})\nWhat `ctl status --region <region>` reads, per region: routing (1 = serving), gates and endpoints (Route 53, 1 = healthy), replication, provisioned concurrency, the control plane's own failures and its dead-letter queues, and every alarm."
      }
    },
    {
      type = "metric", x = 0, y = 2, width = 8, height = 6
      properties = {
        title  = "Routing: RegionActive (1 = serving), as each copy sees it"
        region = local.primary.region
        view   = "timeSeries"
        stat   = "Minimum"
        period = 60
        metrics = [
          for pair in setproduct(local.regions, local.regions) :
          ["ControlPlane", "RegionActive", "Region", pair[0], { region = pair[1], label = "${pair[0]} (seen from ${pair[1]})" }]
        ]
      }
    },
    {
      type = "metric", x = 8, y = 2, width = 8, height = 6
      properties = {
        title  = "Gates (1 = open): Route 53 HealthCheckStatus"
        region = local.route53_metrics_region
        view   = "timeSeries"
        stat   = "Minimum"
        period = 60
        metrics = [
          for region, id in module.global_routing.gate_health_check_ids :
          ["AWS/Route53", "HealthCheckStatus", "HealthCheckId", id, { label = "gate ${region}" }]
        ]
      }
    },
    {
      type = "metric", x = 16, y = 2, width = 8, height = 6
      properties = {
        title  = "Endpoint health (1 = healthy): Route 53 HealthCheckStatus"
        region = local.route53_metrics_region
        view   = "timeSeries"
        stat   = "Minimum"
        period = 60
        metrics = [
          for name, id in module.global_routing.endpoint_health_check_ids_by_name :
          ["AWS/Route53", "HealthCheckStatus", "HealthCheckId", id, { label = name }]
        ]
      }
    },
    {
      type = "metric", x = 0, y = 8, width = 12, height = 6
      properties = {
        title  = "Replication lag (s) per kind, and ready (1) per destination"
        region = local.primary.region
        view   = "timeSeries"
        stat   = "Maximum"
        period = 300
        metrics = concat(
          [
            for pair in setproduct(["ecr", "s3", "secrets"], [local.secondary.region]) :
            ["ControlPlane", "ReplicationLagSeconds", "Kind", pair[0], "DestinationRegion", pair[1], { label = "${pair[0]} lag toward ${pair[1]}" }]
          ],
          [
            for region in local.regions :
            ["ControlPlane", "ReplicationReady", "DestinationRegion", region, { yAxis = "right", label = "ready toward ${region}" }]
          ],
        )
      }
    },
    {
      type = "metric", x = 12, y = 8, width = 12, height = 6
      properties = {
        title  = "Provisioned concurrency: target and allocated, per region"
        region = local.primary.region
        view   = "timeSeries"
        stat   = "Maximum"
        period = 300
        metrics = flatten([
          for pair in setproduct(var.workload_function_names, local.regions) : [
            for metric in ["ProvisionedConcurrencyTarget", "ProvisionedConcurrencyAllocated"] :
            ["ControlPlane", metric, "FunctionName", pair[0], "Region", pair[1], { region = pair[1], label = "${pair[0]} ${pair[1]} ${metric == "ProvisionedConcurrencyTarget" ? "target" : "allocated"}" }]
          ]
        ])
      }
    },
    {
      type = "metric", x = 0, y = 14, width = 12, height = 6
      properties = {
        title  = "The control plane's own failures: ActionFailed, Lambda errors and throttles"
        region = local.primary.region
        view   = "timeSeries"
        stat   = "Sum"
        period = 300
        metrics = flatten([
          for region, copy in local.dashboard_copies : concat(
            [for key, name in copy.functions : ["ControlPlane", "ActionFailed", "Function", key, { region = region, label = "${key} ActionFailed ${region}" }]],
            flatten([
              for key, name in copy.functions : [
                for metric in ["Errors", "Throttles"] :
                ["AWS/Lambda", metric, "FunctionName", name, { region = region, label = "${key} ${metric} ${region}" }]
              ]
            ]),
          )
        ])
      }
    },
    {
      type = "metric", x = 12, y = 14, width = 12, height = 6
      properties = {
        title  = "Dead-letter queue depth (events that reached no function)"
        region = local.primary.region
        view   = "timeSeries"
        stat   = "Maximum"
        period = 60
        metrics = [
          for region, copy in local.dashboard_copies :
          ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", copy.dlq, { region = region, label = "${copy.dlq}" }]
        ]
      }
    },
    {
      type = "metric", x = 0, y = 20, width = 12, height = 6
      properties = {
        title  = "Data plane: EndpointProbeHealthy (1 = the observer's probes answer), per observed region"
        region = local.primary.region
        view   = "timeSeries"
        stat   = "Minimum"
        period = 60
        metrics = [
          for region, observer in local.observers :
          ["ControlPlane", "EndpointProbeHealthy", "Region", region, { region = observer, label = "${region} (probed from ${observer})" }]
        ]
      }
    },
    {
      type = "metric", x = 12, y = 20, width = 12, height = 6
      properties = {
        title  = "Data plane: DataPlaneGateClosed (1 = closed while Route 53's control plane does not answer)"
        region = local.primary.region
        view   = "timeSeries"
        stat   = "Maximum"
        period = 60
        metrics = [
          for region, observer in local.observers :
          ["ControlPlane", "DataPlaneGateClosed", "Region", region, { region = observer, label = "${region} (closed from ${observer})" }]
        ]
      }
    },
    {
      type = "alarm", x = 0, y = 26, width = 24, height = 6
      properties = {
        title = "Alarms"
        alarms = concat(
          module.global_routing.health_alarm_arns,
          flatten([for copy in values(local.dashboard_copies) : copy.alarms]),
          flatten([for m in [module.data_plane_eu_central_1, module.data_plane_us_east_1] : concat(values(m.probe_alarm_arns), values(m.data_plane_gate_alarm_arns))]),
        )
      }
    },
  ]
}

resource "aws_cloudwatch_dashboard" "operator" {
  provider = aws.workload_eu_central_1

  dashboard_name = "${var.service_name}-controlplane-${var.environment}"
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
