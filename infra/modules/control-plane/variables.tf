################################################################################
# Identity and placement
################################################################################

variable "service_name" {
  description = "Short name of the service the control plane protects (e.g. orders). Prefixes every resource name."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,19}$", var.service_name))
    error_message = "service_name must be 2-20 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "environment" {
  description = "Environment this copy of the control plane runs in: dev or prod (drives the seed's provisioned-concurrency baseline)."
  type        = string

  validation {
    condition     = contains(["dev", "prod"], var.environment)
    error_message = "environment must be dev or prod."
  }
}

variable "region" {
  description = "The region this instance of the module is deployed to; must equal the region of the `aws` provider passed in."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-central-1."
  }
}

variable "regions" {
  description = "Every region of the active/active deployment (the control plane's allow-list), primary first."
  type        = list(string)

  validation {
    condition     = length(var.regions) >= 2 && length(distinct(var.regions)) == length(var.regions)
    error_message = "regions must list at least two distinct regions."
  }
}

variable "allowed_accounts" {
  description = "AWS account IDs any ARN in the configuration may belong to (shared-services and this workload account). The current account is always added."
  type        = list(string)

  validation {
    condition     = alltrue([for a in var.allowed_accounts : can(regex("^[0-9]{12}$", a))])
    error_message = "allowed_accounts must be 12-digit AWS account IDs."
  }
}

variable "tags" {
  description = "Tags applied to every resource that supports them."
  type        = map(string)
  default     = {}
}

################################################################################
# Functions
################################################################################

variable "artifacts_dir" {
  description = "Directory holding the zips `make build` produced: <artifacts_dir>/<function>/bootstrap.zip (normally <repo>/target/lambda)."
  type        = string

  validation {
    condition     = length(trimspace(var.artifacts_dir)) > 0
    error_message = "artifacts_dir must not be empty."
  }
}

variable "architecture" {
  description = "Instruction set the bootstrap binaries were built for (the stack's var.architecture, default arm64)."
  type        = string

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "memory_size" {
  description = "Memory (MB) of each control-plane function. Rust binaries need little; more memory also buys CPU."
  type        = number
  default     = 256

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240
    error_message = "memory_size must be between 128 and 10240 MB."
  }
}

variable "timeout_seconds" {
  description = "Timeout of each function, in seconds. Failover must finish well inside its one-minute tick."
  type = object({
    failover              = optional(number, 50)
    replication_monitor   = optional(number, 120)
    concurrency_scheduler = optional(number, 240)
  })
  default = {}

  validation {
    condition     = alltrue([for t in values(var.timeout_seconds) : t >= 3 && t <= 900])
    error_message = "Each timeout must be between 3 and 900 seconds."
  }
}

variable "replication_monitor_reserved_concurrency" {
  description = "Reserved concurrency of replication-monitor. Default 1: its alert state in SSM has no compare-and-swap, so overlapping runs could send an alert twice (concurrency-scheduler is fixed at 1; failover at 5, its state record being compare-and-swapped)."
  type        = number
  default     = 1

  validation {
    condition     = var.replication_monitor_reserved_concurrency >= 1 && var.replication_monitor_reserved_concurrency <= 10
    error_message = "replication_monitor_reserved_concurrency must be between 1 and 10."
  }
}

variable "log_retention_in_days" {
  description = "Retention of the /aws/lambda/<name> log groups (the stack's var.log_retention_in_days)."
  type        = number

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days)
    error_message = "log_retention_in_days must be a value CloudWatch Logs accepts (e.g. 30, 90, 365)."
  }
}

variable "application_log_level" {
  description = "Lambda application log level (JSON log format): TRACE, DEBUG, INFO, WARN, ERROR or FATAL."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"], var.application_log_level)
    error_message = "application_log_level must be one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL."
  }
}

variable "enable_schedules" {
  description = "Create the EventBridge Scheduler schedules (failover every minute, the others every 5 minutes). Disable to deploy the functions dormant."
  type        = bool
  default     = true
}

################################################################################
# Alerts
################################################################################

variable "alert_emails" {
  description = "Email addresses subscribed to this region's alerts topic (each must confirm the subscription)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.alert_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "alert_emails must be email addresses."
  }
}

variable "replication_lag_alarm_threshold_seconds" {
  description = "ReplicationLagSeconds above which the lag alarms fire."
  type        = number
  default     = 900

  validation {
    condition     = var.replication_lag_alarm_threshold_seconds > 0
    error_message = "replication_lag_alarm_threshold_seconds must be positive."
  }
}

################################################################################
# Failover (keys under `failover` in the config document)
################################################################################

variable "hosted_zone_id" {
  description = "The service's public Route 53 hosted zone (its latency records). The routing state is not in it: see state_zone_id."
  type        = string

  validation {
    condition     = can(regex("^Z[A-Z0-9]{4,32}$", var.hosted_zone_id))
    error_message = "hosted_zone_id must be a Route 53 zone ID (Z...)."
  }
}

variable "state_zone_id" {
  description = "The control plane's private hosted zone holding the routing-state TXT record (global-routing output state_zone_id). Must not be hosted_zone_id."
  type        = string

  validation {
    condition     = can(regex("^Z[A-Z0-9]{4,32}$", var.state_zone_id))
    error_message = "state_zone_id must be a Route 53 zone ID (Z...)."
  }
}

variable "state_record_name" {
  description = "Name of the routing-state TXT record in the state zone (e.g. _state.controlplane.orders.example.com), from the global-routing module."
  type        = string

  validation {
    condition     = can(regex("\\.", var.state_record_name))
    error_message = "state_record_name must be a name inside the state zone."
  }
}

variable "operator_role_arns" {
  description = "IAM roles (arn:aws:iam::ACCOUNT:role/[PATH/]NAME) whose sessions may take manual routing actions (evacuate, restore, drill, end_drill) through failover's function URL (failover.operator_roles). Empty: no one may."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.operator_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", arn))])
    error_message = "operator_role_arns must be IAM role ARNs (arn:aws:iam::ACCOUNT:role/NAME)."
  }
}

variable "gate_health_check_ids" {
  description = "Region => ID of that region's CALCULATED gate health check (global-routing output). One entry per region."
  type        = map(string)

  validation {
    condition     = length(var.gate_health_check_ids) >= 2
    error_message = "gate_health_check_ids needs one entry per region."
  }
}

variable "region_alarms" {
  description = "Region-health alarm ARN (arn:<partition>:cloudwatch:<region>:<account>:alarm:<name>) => the region it watches (global-routing output). An ALARM evacuates that region; events from any other alarm are refused."
  type        = map(string)

  validation {
    condition     = length(var.region_alarms) >= 1
    error_message = "region_alarms must name at least one alarm."
  }

  validation {
    condition     = alltrue([for arn in keys(var.region_alarms) : can(regex("^arn:[a-z-]+:cloudwatch:[a-z]{2}(-[a-z]+)+-[0-9]+:[0-9]{12}:alarm:.+$", arn))])
    error_message = "region_alarms keys must be CloudWatch alarm ARNs (arn:aws:cloudwatch:REGION:ACCOUNT:alarm:NAME)."
  }
}

variable "forwarded_alarm_arns" {
  description = "The alarms of region_alarms whose state changes this region forwards to the peers' default buses (the stack: the Route 53 region-health alarms, which exist in us-east-1 only). The data-plane probe alarms are not forwarded: each is heard on its own region's bus by the observer that acts on it, and forwarding it toward the region it reports as failing would only fill the DLQ."
  type        = list(string)

  validation {
    condition     = length(var.forwarded_alarm_arns) >= 1
    error_message = "forwarded_alarm_arns must name at least one alarm (an event pattern cannot match an empty list)."
  }

  validation {
    condition     = alltrue([for arn in var.forwarded_alarm_arns : can(regex("^arn:[a-z-]+:cloudwatch:[a-z]{2}(-[a-z]+)+-[0-9]+:[0-9]{12}:alarm:.+$", arn))])
    error_message = "forwarded_alarm_arns must be CloudWatch alarm ARNs."
  }
}

variable "data_plane" {
  description = <<-EOT
    The data-plane path (failover.data_plane; issue #16): the local-store table (same name in every region,
    data-plane module), region R => its observer region O, region => the https URLs O's failover probes, and
    the probe timeout (control plane duration syntax).
  EOT
  type = object({
    table         = string
    observers     = map(string)
    probes        = map(list(string))
    probe_timeout = optional(string, "3s")
  })

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.data_plane.table))
    error_message = "data_plane.table must be a DynamoDB table name."
  }

  validation {
    condition     = alltrue([for r, o in var.data_plane.observers : o != r])
    error_message = "data_plane.observers: a region cannot observe itself."
  }

  validation {
    condition     = alltrue([for urls in values(var.data_plane.probes) : length(urls) > 0 && alltrue([for u in urls : can(regex("^https://[^/\\s]+(/\\S*)?$", u))])])
    error_message = "data_plane.probes must give every region at least one https:// URL (stack: data_plane_probes, or endpoints[region].alb_health_fqdn)."
  }

  # The functions refuse more than 10 s: the probes run inside failover's one-minute tick.
  validation {
    condition = can(regex("^[0-9]+(ms|s)$", var.data_plane.probe_timeout)) && try(
      endswith(var.data_plane.probe_timeout, "ms")
      ? tonumber(trimsuffix(var.data_plane.probe_timeout, "ms")) >= 1 && tonumber(trimsuffix(var.data_plane.probe_timeout, "ms")) <= 10000
      : tonumber(trimsuffix(var.data_plane.probe_timeout, "s")) >= 1 && tonumber(trimsuffix(var.data_plane.probe_timeout, "s")) <= 10,
    false)
    error_message = "data_plane.probe_timeout must be a duration from 1ms to 10s, like 3s or 500ms."
  }
}

variable "failover" {
  description = "Failover policy. Durations use the control plane's syntax (e.g. 30s, 10m, 4h)."
  type = object({
    min_active_regions                 = optional(number, 1)
    dwell                              = optional(string, "10m")
    max_automatic_evacuations_per_hour = optional(number, 2)
    failback_automatic                 = optional(bool, false)
    failback_stable_for                = optional(string, "30m")
    require_replication_ready          = optional(bool, true)
    readiness_max_age                  = optional(string, "15m")
    drill_default_duration             = optional(string, "15m")
    drill_max_duration                 = optional(string, "4h")
    drill_surge_wait                   = optional(string, "3m")
  })
  default = {}

  validation {
    condition = alltrue([for d in [
      var.failover.dwell, var.failover.failback_stable_for, var.failover.readiness_max_age,
      var.failover.drill_default_duration, var.failover.drill_max_duration, var.failover.drill_surge_wait,
    ] : can(regex("^[0-9]+(ms|s|m|h|d)$", d))])
    error_message = "Durations must look like 30s, 10m, 4h."
  }

  validation {
    condition     = var.failover.min_active_regions >= 1
    error_message = "min_active_regions must be at least 1."
  }

  # The routing state keeps the time of each automatic evacuation of the last hour in one
  # Route 53 TXT value (at most 4,000 characters): the functions refuse to start with a cap
  # above 49 for two regions.
  validation {
    condition     = var.failover.max_automatic_evacuations_per_hour >= 0 && var.failover.max_automatic_evacuations_per_hour <= 38
    error_message = "max_automatic_evacuations_per_hour must be between 0 and 38 (the routing state must fit one Route 53 record)."
  }
}

################################################################################
# Replication (keys under `replication`)
################################################################################

variable "replication" {
  description = "What replication-monitor watches: ECR (in shared-services, read through a cross-account role), S3 replication rules and replicated secrets (replication module outputs)."
  type = object({
    window = optional(string, "2h")
    ecr = object({
      registry_id         = string
      source_region       = string
      repositories        = list(string)
      destination_regions = list(string)
      role_arn            = string
      external_id         = string
      lag_threshold       = optional(string, "15m")
      failed_threshold    = optional(number, 0)
    })
    s3 = object({
      rules = list(object({
        source_bucket      = string
        destination_bucket = string
        rule_id            = string
        source_region      = string
        destination_region = string
      }))
      lag_threshold     = optional(string, "15m")
      failed_threshold  = optional(number, 0)
      pending_threshold = optional(number, 1000)
    })
    secrets = object({
      source_region    = string
      secret_ids       = list(string)
      lag_threshold    = optional(string, "10m")
      failed_threshold = optional(number, 0)
    })
  })

  validation {
    condition     = can(regex("^[0-9]{12}$", var.replication.ecr.registry_id))
    error_message = "replication.ecr.registry_id must be the shared-services account ID."
  }

  validation {
    condition     = length(var.replication.ecr.repositories) > 0 && length(var.replication.secrets.secret_ids) > 0
    error_message = "replication.ecr.repositories and replication.secrets.secret_ids must not be empty (the IAM policy is scoped to them)."
  }

  validation {
    condition     = length(var.replication.ecr.external_id) >= 2
    error_message = "replication.ecr.external_id must be at least 2 characters."
  }
}

################################################################################
# Concurrency (keys under `concurrency`)
################################################################################

variable "concurrency" {
  description = "Provisioned-concurrency policy concurrency-scheduler applies. baseline defaults to local.baseline_concurrency[environment] (prod 2, dev 1), the seed's level."
  type = object({
    alias        = optional(string, "live")
    baseline     = optional(number)
    min          = optional(number, 1)
    max          = optional(number, 50)
    surge_factor = optional(number, 2.0)
    windows = optional(list(object({
      name     = string
      cron     = string
      duration = string
      timezone = string
      level    = number
    })), [])
    utilization_enabled = optional(bool, false)
    utilization_window  = optional(string, "15m")
    utilization_target  = optional(number, 0.7)
    targets = optional(list(object({
      function = string
      regions  = list(string)
    })), [])
    discovery_tag_key   = optional(string, "controlplane:provisioned-concurrency")
    discovery_tag_value = optional(string, "managed")
    requests_per_second = optional(number, 10)
    max_in_flight       = optional(number, 4)
    ready_timeout       = optional(string, "2m")
  })
  default = {}

  # The provisioned-concurrency grants name alias `alias` of these functions, per region
  # (iam.tf): a function only discovered by tag is refused by IAM.
  validation {
    condition     = length(var.concurrency.targets) > 0 && alltrue([for t in var.concurrency.targets : length(t.regions) > 0])
    error_message = "concurrency.targets must name the managed functions and their regions (the IAM grants are scoped to their aliases)."
  }

  validation {
    condition     = var.concurrency.min <= var.concurrency.max
    error_message = "concurrency.min must not exceed concurrency.max."
  }

  validation {
    condition     = var.concurrency.requests_per_second >= 1 && var.concurrency.requests_per_second <= 15
    error_message = "concurrency.requests_per_second must be 1..15 (Lambda's control-plane quota is about 15 requests/s per account)."
  }

  validation {
    condition     = var.concurrency.surge_factor >= 1 && var.concurrency.surge_factor <= 10
    error_message = "concurrency.surge_factor must be between 1 and 10."
  }
}

################################################################################
# Events from other accounts and regions
################################################################################

variable "ecr_event_source_rule_arns" {
  description = "ARNs of the shared-services EventBridge rules that forward `ECR Image Action` events to this region's default bus (allowed by the bus policy)."
  type        = list(string)
  default     = []
}

variable "create_event_bus_policy" {
  description = "Manage the default event bus policy of this region so the shared-services forwarding rules may put ECR events on it. Disable if another stack owns that policy and add the statement there."
  type        = bool
  default     = true
}

variable "enable_peer_forwarding" {
  description = "Forward this region's `controlplane.failover` events and region-health alarm state changes to the peer regions' default buses, so every function sees every region's events."
  type        = bool
  default     = true
}
