output "function_arns" {
  description = "Region => control-plane function ARNs."
  value = {
    (local.primary.region)   = module.control_plane_eu_central_1.function_arns
    (local.secondary.region) = module.control_plane_us_east_1.function_arns
  }
}

output "alerts_topic_arns" {
  description = "Region => alerts topic (confirm the email subscriptions)."
  value = {
    (local.primary.region)   = module.control_plane_eu_central_1.alerts_topic_arn
    (local.secondary.region) = module.control_plane_us_east_1.alerts_topic_arn
  }
}

output "gate_health_check_ids" {
  description = "Region => gate health check."
  value       = module.global_routing.gate_health_check_ids
}

output "state_record_name" {
  description = "The routing-state TXT record (in the private state zone)."
  value       = module.global_routing.state_record_name
}

output "state_zone_id" {
  description = "The control plane's private hosted zone holding the routing state."
  value       = module.global_routing.state_zone_id
}

output "discovery_tags" {
  description = "Tags the workload functions must carry for concurrency-scheduler."
  value       = module.workload_concurrency_eu_central_1.discovery_tags
}
