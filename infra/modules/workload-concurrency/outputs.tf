output "discovery_tags" {
  description = "Tags the workload functions must carry (merge into their `tags`) so concurrency-scheduler discovers and may manage them."
  value       = local.discovery_tags
}

output "targets" {
  description = "Function => alias ARN carrying provisioned concurrency."
  value       = { for f, a in data.aws_lambda_alias.live : f => a.arn }
}

output "initial_provisioned_concurrency" {
  description = "The seed's initial level; concurrency-scheduler changes it afterwards."
  value       = var.provisioned_concurrency
}
