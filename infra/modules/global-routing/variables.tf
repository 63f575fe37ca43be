variable "service_name" {
  description = "Short name of the service (e.g. orders). Names the health checks and alarms (<service>-health-<region>)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,19}$", var.service_name))
    error_message = "service_name must be 2-20 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "hosted_zone_id" {
  description = "Route 53 hosted zone (in the workload account) that holds the service's names."
  type        = string

  validation {
    condition     = can(regex("^Z[A-Z0-9]{4,32}$", var.hosted_zone_id))
    error_message = "hosted_zone_id must be a Route 53 zone ID (Z...)."
  }
}

variable "domain_name" {
  description = "The service's name, latency-routed to each region's ALB (e.g. orders.example.com)."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9-]+\\.)+[a-z]{2,}$", var.domain_name))
    error_message = "domain_name must be a lowercase DNS name without a trailing dot."
  }
}

variable "api_domain_name" {
  description = "The API Gateway custom domain, latency-routed to each region's regional endpoint (e.g. api.orders.example.com)."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9-]+\\.)+[a-z]{2,}$", var.api_domain_name))
    error_message = "api_domain_name must be a lowercase DNS name without a trailing dot."
  }
}

variable "endpoints" {
  description = <<-EOT
    Region => that region's endpoints: the ALB (DNS name and canonical zone ID) and the API Gateway
    regional custom domain (target domain name and hosted zone ID, from aws_api_gateway_domain_name /
    aws_apigatewayv2_domain_name). Health checks probe HTTPS on <fqdn>:443<path>; the FQDNs default to the
    ALB DNS name and to the API's regional target name.
  EOT
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
    condition     = length(var.endpoints) >= 2
    error_message = "endpoints must describe at least two regions (active/active)."
  }

  validation {
    condition     = alltrue([for e in values(var.endpoints) : startswith(e.alb_health_path, "/") && startswith(e.api_health_path, "/")])
    error_message = "Health check paths must start with '/'."
  }
}

variable "health_check" {
  description = "Endpoint health check tuning (Route 53 HTTPS checks)."
  type = object({
    request_interval  = optional(number, 30)
    failure_threshold = optional(number, 3)
    # Off: latency-based records route on Route 53's own latency data, not on these checks'
    # latency graphs, which nothing here reads; the option costs $1 a check a month
    # (docs/BENCHMARKS.md, "Monthly cost"). Route 53 cannot change it on an existing check:
    # changing it replaces the endpoint checks (and their alarms follow the new IDs).
    measure_latency = optional(bool, false)
    regions         = optional(list(string))
  })
  default = {}

  validation {
    condition     = contains([10, 30], var.health_check.request_interval)
    error_message = "request_interval must be 10 or 30 seconds."
  }

  validation {
    condition     = var.health_check.failure_threshold >= 1 && var.health_check.failure_threshold <= 10
    error_message = "failure_threshold must be between 1 and 10."
  }
}

variable "state_record_name" {
  description = "Name of the routing-state TXT record the failover function owns, inside the state zone. Defaults to _state.<state zone name>."
  type        = string
  default     = null

  validation {
    condition     = var.state_record_name == null || can(regex("\\.", var.state_record_name))
    error_message = "state_record_name must be a name inside the state zone."
  }
}

variable "state_zone_name" {
  description = "Name of the control plane's private hosted zone holding the routing state. Defaults to controlplane.<domain_name>; it answers only inside its VPC."
  type        = string
  default     = null

  validation {
    condition     = var.state_zone_name == null || can(regex("^([a-z0-9-]+\\.)+[a-z0-9-]+$", var.state_zone_name))
    error_message = "state_zone_name must be a lowercase DNS name without a trailing dot."
  }
}

variable "state_vpc_id" {
  description = "VPC (in the workload account, this module's region) to associate the private state zone with. Null creates a VPC of the control plane's own for it."
  type        = string
  default     = null

  validation {
    condition     = var.state_vpc_id == null || can(regex("^vpc-[0-9a-f]{8,17}$", var.state_vpc_id))
    error_message = "state_vpc_id must be a VPC ID (vpc-...)."
  }
}

variable "state_vpc_cidr" {
  description = "CIDR block of the VPC created for the private state zone when state_vpc_id is null (it has no subnets)."
  type        = string
  default     = "10.255.255.0/28"

  validation {
    condition     = can(cidrhost(var.state_vpc_cidr, 0)) && tonumber(split("/", var.state_vpc_cidr)[1]) >= 16 && tonumber(split("/", var.state_vpc_cidr)[1]) <= 28
    error_message = "state_vpc_cidr must be an IPv4 CIDR block from /16 to /28 (VPC sizes)."
  }
}

variable "record_ttl" {
  description = "TTL (seconds) of the routing-state TXT record."
  type        = number
  default     = 60

  validation {
    condition     = var.record_ttl >= 0 && var.record_ttl <= 3600
    error_message = "record_ttl must be between 0 and 3600."
  }
}

variable "region_health_evaluation_periods" {
  description = "Consecutive 1-minute periods with an endpoint down before the region-health alarm goes to ALARM (and failover evacuates)."
  type        = number
  default     = 3

  validation {
    condition     = var.region_health_evaluation_periods >= 1 && var.region_health_evaluation_periods <= 30
    error_message = "region_health_evaluation_periods must be between 1 and 30."
  }
}

variable "alarm_actions" {
  description = "Extra alarm/OK actions (e.g. a us-east-1 SNS topic ARN) for the health-check alarms. Failover is reached through EventBridge, not through these."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.alarm_actions : startswith(a, "arn:")])
    error_message = "alarm_actions must be ARNs."
  }
}

variable "tags" {
  description = "Tags applied to every resource that supports them."
  type        = map(string)
  default     = {}
}

variable "data_plane_gate_alarms" {
  description = "Gated region R => the alarm `<service>-data-plane-gate-<R>` (data-plane module output data_plane_gate_alarms): its name and its region, R's observer. One entry per region of endpoints; each becomes the third child of R's gate."
  type = map(object({
    alarm_name   = string
    alarm_region = string
  }))

  validation {
    condition     = alltrue([for r, a in var.data_plane_gate_alarms : a.alarm_region != r])
    error_message = "A data-plane gate alarm must live in the observer region, not in the region it gates."
  }
}
