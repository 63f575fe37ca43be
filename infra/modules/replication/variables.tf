variable "service_name" {
  description = "Short name of the service (e.g. orders)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,19}$", var.service_name))
    error_message = "service_name must be 2-20 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "environment" {
  description = "Environment whose bundles, secrets and ECR read role this instance creates: dev or prod."
  type        = string

  validation {
    condition     = contains(["dev", "prod"], var.environment)
    error_message = "environment must be dev or prod."
  }
}

variable "primary_region" {
  description = "Build region: ECR pushes, source bucket, primary secrets (must match the *_primary providers; the stack's local.primary)."
  type        = string
}

variable "secondary_region" {
  description = "Replication target region (must match the *_secondary providers; the stack's local.secondary)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.secondary_region))
    error_message = "secondary_region must be an AWS region name."
  }
}

variable "repositories" {
  description = "ECR repositories (in shared-services) holding the service's images, e.g. [\"orders-api\"]."
  type        = list(string)

  validation {
    condition     = length(var.repositories) > 0 && alltrue([for r in var.repositories : can(regex("^[a-z0-9][a-z0-9._/-]{1,255}$", r))])
    error_message = "repositories must be a non-empty list of valid ECR repository names."
  }
}

variable "create_ecr_repositories" {
  description = "Create the repositories (both regions) and their pull policies. Shared-services ECR is shared by dev and prod: exactly one root module (dev by default) creates them."
  type        = bool
  default     = true
}

variable "create_ecr_replication_configuration" {
  description = "Manage the registry's replication configuration (one per registry, so exactly one root module may set this)."
  type        = bool
  default     = true
}

variable "pull_account_ids" {
  description = "Workload accounts (dev, prod) allowed to pull from the repositories."
  type        = list(string)

  validation {
    condition     = alltrue([for a in var.pull_account_ids : can(regex("^[0-9]{12}$", a))])
    error_message = "pull_account_ids must be 12-digit AWS account IDs."
  }
}

variable "monitor_role_arns" {
  description = "ARNs of the replication-monitor execution roles (workload account, every region) allowed to assume the ECR read role."
  type        = list(string)

  validation {
    condition     = length(var.monitor_role_arns) > 0 && alltrue([for a in var.monitor_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", a))])
    error_message = "monitor_role_arns must be IAM role ARNs."
  }
}

variable "ecr_read_external_id" {
  description = "sts:ExternalId the replication-monitor must present to assume the ECR read role."
  type        = string

  validation {
    condition     = length(var.ecr_read_external_id) >= 2 && length(var.ecr_read_external_id) <= 1224
    error_message = "ecr_read_external_id must be 2-1224 characters."
  }
}

variable "ecr_event_target_bus_arns" {
  description = "Default event buses (workload account, every region) that receive the shared-services `ECR Image Action` events."
  type        = list(string)
  default     = []
}

variable "secrets" {
  description = "Secret name => description. Created (without a value) in the primary region with a replica in the secondary; values are set out of band."
  type        = map(string)

  validation {
    condition     = length(var.secrets) > 0
    error_message = "secrets must name at least one secret."
  }
}

variable "replication_time_minutes" {
  description = "S3 Replication Time Control threshold (RTC supports 15)."
  type        = number
  default     = 15

  validation {
    condition     = var.replication_time_minutes == 15
    error_message = "S3 Replication Time Control only supports 15 minutes."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which non-current versions of deployment bundles expire."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "noncurrent_version_expiration_days must be at least 1."
  }
}

variable "tags" {
  description = "Tags applied to every resource that supports them."
  type        = map(string)
  default     = {}
}
