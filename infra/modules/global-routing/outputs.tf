output "gate_health_check_ids" {
  description = "Region => ID of its CALCULATED gate health check (failover.gate_health_checks)."
  value       = { for region, hc in aws_route53_health_check.gate : region => hc.id }
}

output "data_plane_gate_health_check_ids" {
  description = "Region => ID of its CLOUDWATCH_METRIC data-plane gate health check (the gate's third child)."
  value       = { for region, hc in aws_route53_health_check.data_plane_gate : region => hc.id }
}

output "endpoint_health_check_ids" {
  description = "IDs of every endpoint (ALB and API Gateway) health check."
  value       = [for hc in aws_route53_health_check.endpoint : hc.id]
}

output "region_alarms" {
  description = "Region-health alarm ARN => the region it watches (failover.region_alarms)."
  value       = { for name, alarm in aws_cloudwatch_metric_alarm.region_health : alarm.arn => local.region_alarm_names[name] }
}

output "region_alarm_arns" {
  description = "Region => ARN of its region-health alarm."
  value       = { for name, alarm in aws_cloudwatch_metric_alarm.region_health : local.region_alarm_names[name] => alarm.arn }
}

output "state_record_name" {
  description = "Name of the routing-state TXT record (failover.state_record_name)."
  value       = aws_route53_record.routing_state.name
}

output "state_zone_id" {
  description = "The control plane's private hosted zone holding the routing state (failover.state_zone_id)."
  value       = aws_route53_zone.state.zone_id
}

output "state_vpc_id" {
  description = "The VPC the private state zone is associated with."
  value       = local.state_vpc_id
}

output "hosted_zone_id" {
  description = "The service's public hosted zone: its latency records only."
  value       = var.hosted_zone_id
}

output "endpoint_health_check_ids_by_name" {
  description = "\"<region>-alb\" / \"<region>-api\" => endpoint health check (the dashboard plots each)."
  value       = { for name, hc in aws_route53_health_check.endpoint : name => hc.id }
}

output "health_alarm_arns" {
  description = "Every alarm of this module: one per endpoint check, one region-health alarm per region."
  value = concat(
    [for a in aws_cloudwatch_metric_alarm.endpoint : a.arn],
    [for a in aws_cloudwatch_metric_alarm.region_health : a.arn],
  )
}
