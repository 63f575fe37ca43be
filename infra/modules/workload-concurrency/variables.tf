variable "provisioned_concurrency" {
  description = "The seed's initial provisioned concurrency: the control plane's concurrency_seed.baseline (prod 2, dev 1)."
  type        = number

  validation {
    condition     = var.provisioned_concurrency >= 1 && floor(var.provisioned_concurrency) == var.provisioned_concurrency
    error_message = "provisioned_concurrency must be a whole number of at least 1."
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
  description = "Alias carrying the provisioned concurrency: the control plane's concurrency_seed.alias (the seed's `live`)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,128}$", var.alias_name)) && !can(regex("^[0-9]+$", var.alias_name))
    error_message = "alias_name must be a Lambda alias name."
  }
}

variable "discovery_tag_key" {
  description = "Tag concurrency-scheduler discovers (and is authorised on, ABAC) the functions by: the control plane's concurrency_seed.discovery_tag_key."
  type        = string
}

variable "discovery_tag_value" {
  description = "Value of the discovery tag: the control plane's concurrency_seed.discovery_tag_value."
  type        = string
}
