variable "service_name" {
  description = "Short name of the service (e.g. orders). Names the table (<service>-controlplane-local) and the alarms (<service>-probe-<region>, <service>-data-plane-gate-<region>)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,19}$", var.service_name))
    error_message = "service_name must be 2-20 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "region" {
  description = "The region of the aws provider passed to this module (the observer region O of every region in observed_regions)."
  type        = string
}

variable "observed_regions" {
  description = "The regions R this region observes (failover.data_plane.observers[R] = this region): one probe alarm and one data-plane-gate alarm each. With two regions, the peer."
  type        = list(string)

  validation {
    condition     = length(var.observed_regions) == length(distinct(var.observed_regions))
    error_message = "observed_regions must not repeat a region."
  }
}

variable "metrics_namespace" {
  description = "Namespace failover publishes EndpointProbeHealthy and DataPlaneGateClosed in (the config's metrics_namespace)."
  type        = string
  default     = "ControlPlane"
}

variable "probe_evaluation_periods" {
  description = "Consecutive 1-minute periods with a failed probe (EndpointProbeHealthy < 1) before <service>-probe-<region> goes to ALARM (spec: 3 of 3)."
  type        = number
  default     = 3

  validation {
    condition     = var.probe_evaluation_periods >= 1 && var.probe_evaluation_periods <= 30
    error_message = "probe_evaluation_periods must be between 1 and 30."
  }
}

variable "tags" {
  description = "Tags applied to every resource that supports them."
  type        = map(string)
  default     = {}
}
