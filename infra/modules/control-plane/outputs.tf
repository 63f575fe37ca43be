output "function_arns" {
  description = "Function name (package) => ARN of this region's control-plane functions."
  value       = { for k, f in aws_lambda_function.this : k => f.arn }
}

output "function_names" {
  description = "Function name (package) => deployed function name in this region."
  value       = { for k, f in aws_lambda_function.this : k => f.function_name }
}

output "role_arns" {
  description = "Function name (package) => execution role ARN."
  value       = { for k, r in aws_iam_role.function : k => r.arn }
}

output "alerts_topic_arn" {
  description = "This region's alerts topic."
  value       = aws_sns_topic.alerts.arn
}

output "dlq_arn" {
  description = "SQS queue receiving failed asynchronous invocations and undeliverable events."
  value       = aws_sqs_queue.dlq.arn
}

output "drill_scheduler_role_arn" {
  description = "Role the one-time drill-end schedules run as (failover.drill.scheduler_role_arns)."
  value       = aws_iam_role.drill_scheduler.arn
}

output "default_event_bus_arn" {
  description = "This region's default event bus (target of the shared-services ECR forwarding rule)."
  value       = local.default_bus_arns[var.region]
}

output "config" {
  description = "The configuration document rendered into CONTROL_PLANE_CONFIG."
  value       = local.config
}

output "concurrency_seed" {
  description = "Alias, baseline (prod 2, dev 1 unless concurrency.baseline says otherwise) and discovery tag of the config's concurrency section: what the workload-concurrency module seeds."
  value       = local.concurrency_seed
}

output "kms_key_arn" {
  description = "Customer-managed key encrypting this region's logs and alerts topic."
  value       = aws_kms_key.this.arn
}

output "alarm_arns" {
  description = "Every alarm this copy owns (its metrics, its functions, its queue), for the dashboard's alarm widget."
  value = concat(
    [for a in aws_cloudwatch_metric_alarm.region_active : a.arn],
    [for a in aws_cloudwatch_metric_alarm.replication_ready : a.arn],
    [for a in aws_cloudwatch_metric_alarm.replication_lag : a.arn],
    [aws_cloudwatch_metric_alarm.dlq_depth.arn],
    [for a in aws_cloudwatch_metric_alarm.action_failed : a.arn],
    [for a in aws_cloudwatch_metric_alarm.lambda : a.arn],
  )
}

output "dlq_name" {
  description = "The queue where this region's undeliverable events and failed asynchronous invocations end."
  value       = aws_sqs_queue.dlq.name
}
