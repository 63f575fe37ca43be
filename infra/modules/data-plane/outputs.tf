output "table_name" {
  description = "The local store's table (failover.data_plane.table); the same name in every region."
  value       = aws_dynamodb_table.local.name
}

output "table_arn" {
  description = "ARN of this region's local-store table."
  value       = aws_dynamodb_table.local.arn
}

output "probe_alarms" {
  description = "Probe alarm ARN => the region it watches: merged into failover.region_alarms."
  value       = { for r, a in aws_cloudwatch_metric_alarm.probe : a.arn => r }
}

output "probe_alarm_names" {
  description = "Observed region => name of its probe alarm (in this region)."
  value       = { for r, a in aws_cloudwatch_metric_alarm.probe : r => a.alarm_name }
}

output "probe_alarm_arns" {
  description = "Observed region => ARN of its probe alarm (in this region)."
  value       = { for r, a in aws_cloudwatch_metric_alarm.probe : r => a.arn }
}

output "data_plane_gate_alarms" {
  description = "Observed (gated) region => the data-plane-gate alarm's name and region (this region), for global-routing's CLOUDWATCH_METRIC health checks."
  value       = { for r, a in aws_cloudwatch_metric_alarm.data_plane_gate : r => { alarm_name = a.alarm_name, alarm_region = var.region } }
}

output "data_plane_gate_alarm_arns" {
  description = "Observed (gated) region => ARN of its data-plane-gate alarm (in this region)."
  value       = { for r, a in aws_cloudwatch_metric_alarm.data_plane_gate : r => a.arn }
}
