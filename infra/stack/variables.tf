variable "environment" {
  description = "Which environment this state is: dev or prod (the workload account's role)."
  type        = string

  validation {
    condition     = contains(["dev", "prod"], var.environment)
    error_message = "environment must be \"dev\" or \"prod\"."
  }
}

variable "service_name" {
  description = "Short name of the service (prefixes every resource)."
  type        = string
  default     = "orders"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,19}$", var.service_name))
    error_message = "service_name must be 2-20 characters of lowercase letters, digits and hyphens."
  }
}

variable "shared_services_account_id" {
  description = "Shared-services account (ECR, CI/CD runners)."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.shared_services_account_id))
    error_message = "shared_services_account_id must be a 12-digit account ID."
  }
}

variable "workload_account_id" {
  description = "The workload account of this environment."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.workload_account_id))
    error_message = "workload_account_id must be a 12-digit account ID."
  }
}

variable "pull_account_ids" {
  description = "Workload accounts allowed to pull from the shared ECR repositories (dev and prod)."
  type        = list(string)

  validation {
    condition     = alltrue([for a in var.pull_account_ids : can(regex("^[0-9]{12}$", a))])
    error_message = "pull_account_ids must be 12-digit account IDs."
  }
}

variable "deploy_role_name" {
  description = "Role Terraform assumes in every account."
  type        = string
  default     = "terraform-deploy"

  validation {
    condition     = can(regex("^[\\w+=,.@-]{1,64}$", var.deploy_role_name))
    error_message = "deploy_role_name must be an IAM role name."
  }
}

variable "shared_services_external_id" {
  description = "sts:ExternalId the shared-services deploy role requires (null if it requires none)."
  type        = string
  default     = null
}

variable "workload_external_id" {
  description = "sts:ExternalId the workload deploy role requires (null if it requires none)."
  type        = string
  default     = null
}

variable "hosted_zone_id" {
  description = "Route 53 hosted zone (workload account) of the service's names."
  type        = string

  validation {
    condition     = can(regex("^Z[A-Z0-9]{4,32}$", var.hosted_zone_id))
    error_message = "hosted_zone_id must be a Route 53 zone ID."
  }
}

variable "state_vpc_id" {
  description = "VPC (workload account, us-east-1) to associate the control plane's private state zone with; null creates a VPC of its own for it."
  type        = string
  default     = null
}

variable "operator_role_arns" {
  description = "IAM roles whose sessions may take manual routing actions through failover's function URL (failover.operator_roles). Empty: no one may."
  type        = list(string)
  default     = []
}

variable "domain_name" {
  description = "The service's name routed to the ALBs (e.g. orders.example.com; dev: orders.dev.example.com)."
  type        = string
}

variable "api_domain_name" {
  description = "The API Gateway custom domain (e.g. api.orders.example.com; dev: api.orders.dev.example.com)."
  type        = string
}

variable "endpoints" {
  description = "Region => ALB and API Gateway regional endpoint of the service (see modules/global-routing)."
  type = map(object({
    alb_dns_name           = string
    alb_zone_id            = string
    alb_health_fqdn        = optional(string)
    alb_health_path        = optional(string, "/health")
    api_target_domain_name = string
    api_hosted_zone_id     = string
    api_health_fqdn        = optional(string)
    api_health_path        = optional(string, "/health")
  }))

  validation {
    condition     = alltrue([for r in ["eu-central-1", "us-east-1"] : contains(keys(var.endpoints), r)])
    error_message = "endpoints must describe eu-central-1 and us-east-1."
  }
}

variable "data_plane_probes" {
  description = "Region => the https URLs of the service's public health endpoints there, which the observer region's failover probes (failover.data_plane.probes). A region not listed is probed at https://<endpoints[R].alb_health_fqdn><alb_health_path>; give one or the other for every region (each URL's certificate must be valid for its name)."
  type        = map(list(string))
  default     = {}

  validation {
    condition     = alltrue([for urls in values(var.data_plane_probes) : length(urls) > 0 && alltrue([for u in urls : can(regex("^https://[^/\\s]+(/\\S*)?$", u))])])
    error_message = "data_plane_probes must map each region to a non-empty list of https:// URLs."
  }
}

variable "data_plane_probe_timeout" {
  description = "How long failover waits for each probe (failover.data_plane.probe_timeout), in the control plane's duration syntax. Null: the control plane's default (3s)."
  type        = string
  default     = null

  validation {
    condition     = var.data_plane_probe_timeout == null || can(regex("^[0-9]+(ms|s)$", var.data_plane_probe_timeout))
    error_message = "data_plane_probe_timeout must look like 3s or 500ms."
  }
}

variable "ecr_repositories" {
  description = "Shared-services ECR repositories of the service."
  type        = list(string)
  default     = ["orders-api"]
}

variable "manage_shared_ecr" {
  description = "Create the shared ECR repositories and the registry's replication configuration. Exactly one environment owns them; null means dev does (it is applied first)."
  type        = bool
  default     = null
}

variable "ecr_read_external_id" {
  description = "External ID replication-monitor presents to the shared-services ECR read role. Defaults to <service>-<env>-controlplane."
  type        = string
  default     = null
}

variable "secrets" {
  description = "Secret name => description, replicated to us-east-1."
  type        = map(string)
  default     = { "orders/db-credentials" = "Database credentials of the orders service" }
}

variable "workload_function_names" {
  description = "Workload Lambda functions (same name in both regions) with alias `live` and provisioned concurrency."
  type        = list(string)
  default     = ["orders-api"]
}

variable "concurrency_windows" {
  description = "Scheduled provisioned-concurrency windows (see config/example.json)."
  type = list(object({
    name     = string
    cron     = string
    duration = string
    timezone = string
    level    = number
  }))
  default = []
}

variable "alert_emails" {
  description = "Emails subscribed to the alerts topics of both regions."
  type        = list(string)
  default     = []
}

variable "artifacts_dir" {
  description = "Where `make build` left the zips (<dir>/<function>/bootstrap.zip). Defaults to <repo>/target/lambda."
  type        = string
  default     = null
}

variable "architecture" {
  description = "arm64 (default build) or x86_64."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "log_retention_in_days" {
  description = "Retention of the control-plane log groups."
  type        = number
  default     = 365
}
