output "gate_health_check_ids" {
  description = "Region => ID of its CALCULATED gate health check (failover.gate_health_checks)."
  value       = { for region, hc in aws_route53_health_check.gate : region => hc.id }
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

output "hosted_zone_id" {
  description = "Hosted zone holding the records."
  value       = var.hosted_zone_id
}
