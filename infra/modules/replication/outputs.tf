output "registry_id" {
  description = "Shared-services account ID (ECR registry)."
  value       = local.shared_account_id
}

output "source_region" {
  description = "Region images are pushed to and replicated from."
  value       = var.primary_region
}

output "destination_regions" {
  description = "Regions ECR replicates to."
  value       = [var.secondary_region]
}

output "repositories" {
  description = "ECR repository names."
  value       = var.repositories
}

output "ecr_read_role_arn" {
  description = "Role replication-monitor assumes (with the external ID) to read ECR replication status."
  value       = aws_iam_role.ecr_read.arn
}

output "ecr_read_external_id" {
  description = "External ID required to assume the ECR read role."
  value       = var.ecr_read_external_id
}

output "ecr_event_rule_arns" {
  description = "Shared-services rules forwarding ECR pushes to the workload buses (allowed by the control-plane bus policies)."
  value       = [for r in aws_cloudwatch_event_rule.ecr_push : r.arn]
}

output "s3_rules" {
  description = "S3 replication rules in the shape of the config's replication.s3.rules."
  value = [{
    source_bucket      = aws_s3_bucket.source.bucket
    destination_bucket = aws_s3_bucket.destination.bucket
    rule_id            = local.s3_rule_id
    source_region      = var.primary_region
    destination_region = var.secondary_region
  }]
}

output "secret_ids" {
  description = "Names of the replicated secrets."
  value       = [for s in aws_secretsmanager_secret.this : s.name]
}

output "secret_arns" {
  description = "ARNs (primary region) of the replicated secrets."
  value       = [for s in aws_secretsmanager_secret.this : s.arn]
}
