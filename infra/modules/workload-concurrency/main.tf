################################################################################
# workload-concurrency: the seed's provisioned concurrency on the workload alias.
# Level, alias and discovery tag come from the control plane's config (its output
# concurrency_seed: prod 2, dev 1 on `live`), so the seed and concurrency-scheduler
# never disagree. Terraform creates it; concurrency-scheduler owns the number
# afterwards (surges, windows), so Terraform ignores later changes to it.
################################################################################

locals {
  discovery_tags = { (var.discovery_tag_key) = var.discovery_tag_value }
}

data "aws_lambda_function" "workload" {
  for_each = toset(var.function_names)

  function_name = each.value
}

data "aws_lambda_alias" "live" {
  for_each = toset(var.function_names)

  function_name = each.value
  name          = var.alias_name
}

resource "aws_lambda_provisioned_concurrency_config" "main" {
  for_each = toset(var.function_names)

  function_name                     = each.value
  provisioned_concurrent_executions = var.provisioned_concurrency
  qualifier                         = data.aws_lambda_alias.live[each.key].name

  lifecycle {
    # concurrency-scheduler owns the number after creation.
    ignore_changes = [provisioned_concurrent_executions]
  }
}

# The workload functions are defined by the workload's own Terraform: the AWS provider has
# no resource that adds a single tag to a function managed elsewhere (two owners of `tags`
# would fight). Their owner merges `discovery_tags` (output) into the function's tags; this
# check reports at plan/apply time any function still missing it, since concurrency-scheduler
# discovers functions, and is authorised on them (ABAC), by that tag.
check "discovery_tag_present" {
  assert {
    condition = alltrue([
      for f in data.aws_lambda_function.workload : lookup(f.tags, var.discovery_tag_key, null) == var.discovery_tag_value
    ])
    error_message = "Tag ${var.discovery_tag_key}=${var.discovery_tag_value} is missing on: ${join(", ", [for f in data.aws_lambda_function.workload : f.function_name if lookup(f.tags, var.discovery_tag_key, null) != var.discovery_tag_value])}. Merge module output discovery_tags into those functions' tags."
  }
}
