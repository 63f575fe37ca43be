variable "environment" {
  description = "dev or prod: the seed's initial provisioned concurrency is prod 2, dev 1."
  type        = string

  validation {
    condition     = contains(["dev", "prod"], var.environment)
    error_message = "environment must be dev or prod."
  }
}

variable "function_names" {
  description = "Workload Lambda functions (in this provider's region) whose alias gets provisioned concurrency."
  type        = list(string)

  validation {
    condition     = alltrue([for f in var.function_names : can(regex("^[A-Za-z0-9_-]{1,64}$", f))])
    error_message = "function_names must be Lambda function names (not ARNs)."
  }
}

variable "alias_name" {
  description = "Alias carrying the provisioned concurrency (the seed's `live`)."
  type        = string
  default     = "live"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,128}$", var.alias_name)) && !can(regex("^[0-9]+$", var.alias_name))
    error_message = "alias_name must be a Lambda alias name."
  }
}

variable "discovery_tag_key" {
  description = "Tag concurrency-scheduler discovers (and is authorised on, ABAC) the functions by."
  type        = string
  default     = "controlplane:provisioned-concurrency"
}

variable "discovery_tag_value" {
  description = "Value of the discovery tag."
  type        = string
  default     = "managed"
}
