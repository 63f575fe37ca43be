################################################################################
# One environment's control plane (var.environment: dev or prod), both regions.
# One root for every environment: envs/<env>/ holds its backend config and values.
#   shared-services (ECR, replication read role, ECR event forwarding)
#   -> workload: global routing, S3 bundles + secrets replication,
#      control plane per region, provisioned concurrency per region.
################################################################################

locals {
  environment = var.environment
  # dev, applied first, owns the shared ECR repositories unless told otherwise.
  manage_shared_ecr = coalesce(var.manage_shared_ecr, var.environment == "dev")

  primary = {
    region = "eu-central-1" # build region: ECR pushes, S3 source, primary secrets
  }

  secondary = {
    region = "us-east-1" # replication target; Route 53 metrics and alarms live here too
  }

  regions       = [local.primary.region, local.secondary.region]
  artifacts_dir = coalesce(var.artifacts_dir, "${path.root}/../../target/lambda")
  external_id   = coalesce(var.ecr_read_external_id, "${var.service_name}-${local.environment}-controlplane")

  # The data-plane path (issue #16): region R => its observer O, whose failover copy probes R,
  # keeps R's data-plane gate and reads R's probe alarm in O. With two regions, the peer.
  observers = {
    (local.primary.region)   = local.secondary.region
    (local.secondary.region) = local.primary.region
  }
  # The URLs each observer probes: var.data_plane_probes[R], else the ALB's health check name
  # (endpoints[R].alb_health_fqdn and alb_health_path); a region with neither gets an empty
  # list, which the control-plane module refuses at plan time.
  data_plane_probes = {
    for r, e in var.endpoints : r => (
      contains(keys(var.data_plane_probes), r) ? var.data_plane_probes[r] :
      e.alb_health_fqdn != null ? ["https://${e.alb_health_fqdn}${e.alb_health_path}"] : []
    )
  }

  tags = {
    Service     = var.service_name
    Environment = local.environment
    ManagedBy   = "terraform"
    Component   = "controlplane"
  }

  # Settings shared by both regional copies of the control plane.
  control_plane = {
    hosted_zone_id        = var.hosted_zone_id
    state_zone_id         = module.global_routing.state_zone_id
    state_record_name     = module.global_routing.state_record_name
    gate_health_check_ids = module.global_routing.gate_health_check_ids
    # The Route 53 region-health alarms (us-east-1) and the data-plane probe alarms (each in
    # its observer region), every one => the region it watches (failover.region_alarms).
    region_alarms = merge(
      module.global_routing.region_alarms,
      module.data_plane_eu_central_1.probe_alarms,
      module.data_plane_us_east_1.probe_alarms,
    )
    # Forwarded to the peer's bus: the Route 53 region-health alarms only (they exist in
    # us-east-1 alone). A probe alarm is heard where it lives, by the observer that acts on it.
    forwarded_alarm_arns = keys(module.global_routing.region_alarms)
    data_plane = {
      # the same name in every region
      table         = module.data_plane_eu_central_1.table_name
      observers     = local.observers
      probes        = local.data_plane_probes
      probe_timeout = var.data_plane_probe_timeout
    }
    allowed_accounts = [var.shared_services_account_id, var.workload_account_id]
    replication = {
      ecr = {
        registry_id         = module.replication.registry_id
        source_region       = module.replication.source_region
        repositories        = module.replication.repositories
        destination_regions = module.replication.destination_regions
        role_arn            = module.replication.ecr_read_role_arn
        external_id         = module.replication.ecr_read_external_id
      }
      s3 = {
        rules = module.replication.s3_rules
      }
      secrets = {
        source_region = local.primary.region
        secret_ids    = module.replication.secret_ids
      }
    }
    concurrency = {
      windows = var.concurrency_windows
      targets = [for f in var.workload_function_names : { function = f, regions = local.regions }]
    }
  }
}

################################################################################
# Data plane, once per region: the local-store table and, for each region this one
# observes, the probe and data-plane-gate alarms. Before global routing (its gates
# follow the data-plane-gate alarms) and the control plane (its config names them).
################################################################################

module "data_plane_eu_central_1" {
  source = "../modules/data-plane"

  providers = {
    aws = aws.workload_eu_central_1
  }

  service_name     = var.service_name
  region           = local.primary.region
  observed_regions = [for r, o in local.observers : r if o == local.primary.region]
  tags             = local.tags
}

module "data_plane_us_east_1" {
  source = "../modules/data-plane"

  providers = {
    aws = aws.workload_us_east_1
  }

  service_name     = var.service_name
  region           = local.secondary.region
  observed_regions = [for r, o in local.observers : r if o == local.secondary.region]
  tags             = local.tags
}

################################################################################
# Global routing (workload account; Route 53 metrics/alarms in us-east-1)
################################################################################

module "global_routing" {
  source = "../modules/global-routing"

  providers = {
    aws = aws.workload_us_east_1
  }

  service_name    = var.service_name
  hosted_zone_id  = var.hosted_zone_id
  domain_name     = var.domain_name
  state_vpc_id    = var.state_vpc_id
  api_domain_name = var.api_domain_name
  endpoints       = var.endpoints
  tags            = local.tags

  data_plane_gate_alarms = merge(
    module.data_plane_eu_central_1.data_plane_gate_alarms,
    module.data_plane_us_east_1.data_plane_gate_alarms,
  )
}

################################################################################
# Replication: ECR in shared-services, S3 bundles and secrets in the workload account
################################################################################

module "replication" {
  source = "../modules/replication"

  providers = {
    aws.shared_primary     = aws.shared_eu_central_1
    aws.shared_secondary   = aws.shared_us_east_1
    aws.workload_primary   = aws.workload_eu_central_1
    aws.workload_secondary = aws.workload_us_east_1
  }

  service_name                         = var.service_name
  environment                          = local.environment
  primary_region                       = local.primary.region
  secondary_region                     = local.secondary.region
  repositories                         = var.ecr_repositories
  create_ecr_repositories              = local.manage_shared_ecr
  create_ecr_replication_configuration = local.manage_shared_ecr
  pull_account_ids                     = var.pull_account_ids
  ecr_read_external_id                 = local.external_id
  secrets                              = var.secrets
  tags                                 = local.tags

  monitor_role_arns = [
    module.control_plane_eu_central_1.role_arns["replication-monitor"],
    module.control_plane_us_east_1.role_arns["replication-monitor"],
  ]

  ecr_event_target_bus_arns = [
    module.control_plane_eu_central_1.default_event_bus_arn,
    module.control_plane_us_east_1.default_event_bus_arn,
  ]
}

################################################################################
# Control plane, once per region
################################################################################

module "control_plane_eu_central_1" {
  source = "../modules/control-plane"

  providers = {
    aws = aws.workload_eu_central_1
  }

  service_name          = var.service_name
  environment           = local.environment
  region                = local.primary.region
  regions               = local.regions
  allowed_accounts      = local.control_plane.allowed_accounts
  artifacts_dir         = local.artifacts_dir
  architecture          = var.architecture
  log_retention_in_days = var.log_retention_in_days
  alert_emails          = var.alert_emails

  hosted_zone_id        = local.control_plane.hosted_zone_id
  state_zone_id         = local.control_plane.state_zone_id
  state_record_name     = local.control_plane.state_record_name
  operator_role_arns    = var.operator_role_arns
  gate_health_check_ids = local.control_plane.gate_health_check_ids
  region_alarms         = local.control_plane.region_alarms
  forwarded_alarm_arns  = local.control_plane.forwarded_alarm_arns
  data_plane            = local.control_plane.data_plane
  replication           = local.control_plane.replication
  concurrency           = local.control_plane.concurrency

  ecr_event_source_rule_arns = module.replication.ecr_event_rule_arns
  tags                       = local.tags
}

module "control_plane_us_east_1" {
  source = "../modules/control-plane"

  providers = {
    aws = aws.workload_us_east_1
  }

  service_name          = var.service_name
  environment           = local.environment
  region                = local.secondary.region
  regions               = local.regions
  allowed_accounts      = local.control_plane.allowed_accounts
  artifacts_dir         = local.artifacts_dir
  architecture          = var.architecture
  log_retention_in_days = var.log_retention_in_days
  alert_emails          = var.alert_emails

  hosted_zone_id        = local.control_plane.hosted_zone_id
  state_zone_id         = local.control_plane.state_zone_id
  state_record_name     = local.control_plane.state_record_name
  operator_role_arns    = var.operator_role_arns
  gate_health_check_ids = local.control_plane.gate_health_check_ids
  region_alarms         = local.control_plane.region_alarms
  forwarded_alarm_arns  = local.control_plane.forwarded_alarm_arns
  data_plane            = local.control_plane.data_plane
  replication           = local.control_plane.replication
  concurrency           = local.control_plane.concurrency

  ecr_event_source_rule_arns = module.replication.ecr_event_rule_arns
  tags                       = local.tags
}

################################################################################
# The seed's provisioned concurrency, once per region: level, alias and discovery
# tag from that region's control-plane config (output concurrency_seed), the one
# source, so the seed and concurrency-scheduler agree
################################################################################

module "workload_concurrency_eu_central_1" {
  source = "../modules/workload-concurrency"

  providers = {
    aws = aws.workload_eu_central_1
  }

  function_names          = var.workload_function_names
  provisioned_concurrency = module.control_plane_eu_central_1.concurrency_seed.baseline
  alias_name              = module.control_plane_eu_central_1.concurrency_seed.alias
  discovery_tag_key       = module.control_plane_eu_central_1.concurrency_seed.discovery_tag_key
  discovery_tag_value     = module.control_plane_eu_central_1.concurrency_seed.discovery_tag_value
}

module "workload_concurrency_us_east_1" {
  source = "../modules/workload-concurrency"

  providers = {
    aws = aws.workload_us_east_1
  }

  function_names          = var.workload_function_names
  provisioned_concurrency = module.control_plane_us_east_1.concurrency_seed.baseline
  alias_name              = module.control_plane_us_east_1.concurrency_seed.alias
  discovery_tag_key       = module.control_plane_us_east_1.concurrency_seed.discovery_tag_key
  discovery_tag_value     = module.control_plane_us_east_1.concurrency_seed.discovery_tag_value
}
