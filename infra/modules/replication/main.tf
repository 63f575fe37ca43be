################################################################################
# replication: the seed's data synchronisation.
#  - ECR (shared-services): repositories in both regions, pull policies for dev/prod,
#    cross-region replication eu-central-1 -> us-east-1, and `ECR Image Action`
#    forwarding to the workload account's buses.
#  - S3 (workload account): deployment bundles replicated with RTC and metrics.
#  - Secrets Manager (workload account): secrets replicated to the secondary region.
################################################################################

data "aws_caller_identity" "shared" {
  provider = aws.shared_primary
}

data "aws_caller_identity" "workload" {
  provider = aws.workload_primary
}

data "aws_partition" "current" {
  provider = aws.workload_primary
}

locals {
  shared_account_id   = data.aws_caller_identity.shared.account_id
  workload_account_id = data.aws_caller_identity.workload.account_id
  partition           = data.aws_partition.current.partition
  prefix              = "${var.service_name}-${var.environment}"

  source_bucket      = "${local.prefix}-bundles-${local.workload_account_id}-${var.primary_region}"
  destination_bucket = "${local.prefix}-bundles-${local.workload_account_id}-${var.secondary_region}"
  s3_rule_id         = "bundles-to-${var.secondary_region}"
}

################################################################################
# ECR (shared-services)
################################################################################

resource "aws_ecr_repository" "primary" {
  #checkov:skip=CKV_AWS_136: encrypted with KMS (AWS-managed aws/ecr key); a customer key per region would have to be shared with both workload accounts for pulls.
  for_each = var.create_ecr_repositories ? toset(var.repositories) : toset([])
  provider = aws.shared_primary

  name                 = each.value
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
  }

  tags = var.tags
}

# Pre-created so the replicas carry the same pull policy (replication copies images, not policies).
resource "aws_ecr_repository" "secondary" {
  #checkov:skip=CKV_AWS_136: encrypted with KMS (AWS-managed aws/ecr key); a customer key per region would have to be shared with both workload accounts for pulls.
  for_each = var.create_ecr_repositories ? toset(var.repositories) : toset([])
  provider = aws.shared_secondary

  name                 = each.value
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
  }

  tags = var.tags
}

data "aws_iam_policy_document" "repository" {
  # The module has aliased providers only: every block names one (else an empty default is implied).
  provider = aws.shared_primary

  statement {
    sid = "WorkloadAccountsPull"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]

    principals {
      type        = "AWS"
      identifiers = [for a in var.pull_account_ids : "arn:${local.partition}:iam::${a}:root"]
    }
  }
}

resource "aws_ecr_repository_policy" "primary" {
  for_each = aws_ecr_repository.primary
  provider = aws.shared_primary

  repository = each.value.name
  policy     = data.aws_iam_policy_document.repository.json
}

resource "aws_ecr_repository_policy" "secondary" {
  for_each = aws_ecr_repository.secondary
  provider = aws.shared_secondary

  repository = each.value.name
  policy     = data.aws_iam_policy_document.repository.json
}

resource "aws_ecr_replication_configuration" "this" {
  count    = var.create_ecr_replication_configuration ? 1 : 0
  provider = aws.shared_primary

  replication_configuration {
    rule {
      destination {
        region      = var.secondary_region
        registry_id = local.shared_account_id
      }

      dynamic "repository_filter" {
        for_each = toset(var.repositories)
        content {
          filter      = repository_filter.value
          filter_type = "PREFIX_MATCH"
        }
      }
    }
  }
}

################################################################################
# ECR read role for replication-monitor (shared-services), ExternalId required
################################################################################

data "aws_iam_policy_document" "ecr_read_assume" {
  provider = aws.shared_primary

  statement {
    sid     = "ReplicationMonitorAssume"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "AWS"
      identifiers = [for a in distinct([for arn in var.monitor_role_arns : split(":", arn)[4]]) : "arn:${local.partition}:iam::${a}:root"]
    }

    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = [var.ecr_read_external_id]
    }

    # Only the monitor roles, not any principal of the workload account.
    condition {
      test     = "ArnEquals"
      variable = "aws:PrincipalArn"
      values   = var.monitor_role_arns
    }
  }
}

resource "aws_iam_role" "ecr_read" {
  provider = aws.shared_primary

  name                 = "${local.prefix}-controlplane-ecr-read"
  description          = "Assumed by ${var.service_name} ${var.environment} replication-monitor to read ECR replication status"
  assume_role_policy   = data.aws_iam_policy_document.ecr_read_assume.json
  max_session_duration = 3600
  tags                 = var.tags
}

data "aws_iam_policy_document" "ecr_read" {
  provider = aws.shared_primary

  # Exactly what replication-monitor calls with this role's credentials
  # (shared::aws::ecr::Ecr: DescribeImages, DescribeImageReplicationStatus), in the registry's
  # region, where both are asked: the status call reports every destination region.
  statement {
    sid = "ReadReplicationStatus"
    actions = [
      "ecr:DescribeImages",
      "ecr:DescribeImageReplicationStatus",
    ]
    resources = [
      for repo in var.repositories : "arn:${local.partition}:ecr:${var.primary_region}:${local.shared_account_id}:repository/${repo}"
    ]
  }
}

resource "aws_iam_role_policy" "ecr_read" {
  provider = aws.shared_primary

  name   = "ecr-replication-read"
  role   = aws_iam_role.ecr_read.id
  policy = data.aws_iam_policy_document.ecr_read.json
}

################################################################################
# ECR events: shared-services eu-central-1 -> the workload account's buses
# (ECR emits `ECR Image Action` only in the registry's account and region.)
################################################################################

resource "aws_cloudwatch_event_rule" "ecr_push" {
  count    = length(var.ecr_event_target_bus_arns) > 0 ? 1 : 0
  provider = aws.shared_primary

  name        = "${local.prefix}-controlplane-ecr-push"
  description = "Forward successful pushes to ${join(", ", var.repositories)} to the ${var.environment} account's control plane"
  event_pattern = jsonencode({
    source        = ["aws.ecr"]
    "detail-type" = ["ECR Image Action"]
    account       = [local.shared_account_id]
    region        = [var.primary_region]
    detail = {
      "action-type"     = ["PUSH"]
      result            = ["SUCCESS"]
      "repository-name" = var.repositories
    }
  })
  tags = var.tags
}

data "aws_iam_policy_document" "events_assume" {
  provider = aws.shared_primary

  statement {
    sid     = "EventBridgeAssume"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.shared_account_id]
    }
  }
}

resource "aws_iam_role" "ecr_events" {
  count    = length(var.ecr_event_target_bus_arns) > 0 ? 1 : 0
  provider = aws.shared_primary

  name               = "${local.prefix}-controlplane-ecr-events"
  description        = "EventBridge: forwards ECR pushes to the ${var.environment} account's buses"
  assume_role_policy = data.aws_iam_policy_document.events_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "ecr_events" {
  provider = aws.shared_primary

  statement {
    sid       = "PutOnWorkloadBuses"
    actions   = ["events:PutEvents"]
    resources = length(var.ecr_event_target_bus_arns) > 0 ? var.ecr_event_target_bus_arns : ["arn:${local.partition}:events:${var.primary_region}:${local.shared_account_id}:event-bus/none"]
  }
}

resource "aws_iam_role_policy" "ecr_events" {
  count    = length(var.ecr_event_target_bus_arns) > 0 ? 1 : 0
  provider = aws.shared_primary

  name   = "put-on-workload-buses"
  role   = aws_iam_role.ecr_events[0].id
  policy = data.aws_iam_policy_document.ecr_events.json
}

resource "aws_cloudwatch_event_target" "ecr_push" {
  for_each = length(var.ecr_event_target_bus_arns) > 0 ? { for arn in var.ecr_event_target_bus_arns : split(":", arn)[3] => arn } : {}
  provider = aws.shared_primary

  rule      = aws_cloudwatch_event_rule.ecr_push[0].name
  target_id = "${var.environment}-${each.key}"
  arn       = each.value
  role_arn  = aws_iam_role.ecr_events[0].arn

  retry_policy {
    maximum_retry_attempts       = 8
    maximum_event_age_in_seconds = 3600
  }
}

################################################################################
# KMS keys for bundles and secrets (workload account, one per region)
################################################################################

data "aws_iam_policy_document" "kms" {
  provider = aws.workload_primary

  #checkov:skip=CKV_AWS_109: key policy: "*" is this key; the account root administers it and IAM policies grant use (AWS default key policy).
  #checkov:skip=CKV_AWS_111: key policy: "*" is this key; the account root administers it and IAM policies grant use (AWS default key policy).
  #checkov:skip=CKV_AWS_356: key policy: "*" means this key only; a key policy cannot name its own ARN.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.workload_account_id}:root"]
    }
  }
}

resource "aws_kms_key" "primary" {
  provider = aws.workload_primary

  description             = "${local.prefix} bundles and secrets (${var.primary_region})"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = var.tags
}

resource "aws_kms_key" "secondary" {
  provider = aws.workload_secondary

  description             = "${local.prefix} bundles and secret replicas (${var.secondary_region})"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = var.tags
}

################################################################################
# S3 deployment bundles: source (primary) -> destination (secondary), RTC + metrics
################################################################################

resource "aws_s3_bucket" "source" {
  #checkov:skip=CKV_AWS_18: access logging of the bundle bucket is left to the organisation's CloudTrail data events; a log bucket per bundle bucket is not part of this module.
  #checkov:skip=CKV2_AWS_62: nothing consumes bucket notifications; replication-monitor reads the replication metrics instead.
  provider = aws.workload_primary

  bucket = local.source_bucket
  tags   = var.tags
}

resource "aws_s3_bucket" "destination" {
  #checkov:skip=CKV_AWS_18: access logging of the bundle bucket is left to the organisation's CloudTrail data events; a log bucket per bundle bucket is not part of this module.
  #checkov:skip=CKV2_AWS_62: nothing consumes bucket notifications; replication-monitor reads the replication metrics instead.
  #checkov:skip=CKV_AWS_144: this is the replication destination; replicating it onward would loop back to the source region.
  provider = aws.workload_secondary

  bucket = local.destination_bucket
  tags   = var.tags
}

resource "aws_s3_bucket_versioning" "source" {
  provider = aws.workload_primary
  bucket   = aws_s3_bucket.source.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_versioning" "destination" {
  provider = aws.workload_secondary
  bucket   = aws_s3_bucket.destination.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "source" {
  provider = aws.workload_primary
  bucket   = aws_s3_bucket.source.id

  rule {
    bucket_key_enabled = true

    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.primary.arn
    }
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "destination" {
  provider = aws.workload_secondary
  bucket   = aws_s3_bucket.destination.id

  rule {
    bucket_key_enabled = true

    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.secondary.arn
    }
  }
}

resource "aws_s3_bucket_public_access_block" "source" {
  provider = aws.workload_primary
  bucket   = aws_s3_bucket.source.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_public_access_block" "destination" {
  provider = aws.workload_secondary
  bucket   = aws_s3_bucket.destination.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "source" {
  provider = aws.workload_primary
  bucket   = aws_s3_bucket.source.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_ownership_controls" "destination" {
  provider = aws.workload_secondary
  bucket   = aws_s3_bucket.destination.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "source" {
  provider = aws.workload_primary
  bucket   = aws_s3_bucket.source.id

  rule {
    id     = "noncurrent-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.source]
}

resource "aws_s3_bucket_lifecycle_configuration" "destination" {
  provider = aws.workload_secondary
  bucket   = aws_s3_bucket.destination.id

  rule {
    id     = "noncurrent-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.destination]
}

data "aws_iam_policy_document" "tls_only_source" {
  provider = aws.workload_primary

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.source.arn, "${aws_s3_bucket.source.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

data "aws_iam_policy_document" "tls_only_destination" {
  provider = aws.workload_primary

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.destination.arn, "${aws_s3_bucket.destination.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "source" {
  provider = aws.workload_primary
  bucket   = aws_s3_bucket.source.id
  policy   = data.aws_iam_policy_document.tls_only_source.json

  depends_on = [aws_s3_bucket_public_access_block.source]
}

resource "aws_s3_bucket_policy" "destination" {
  provider = aws.workload_secondary
  bucket   = aws_s3_bucket.destination.id
  policy   = data.aws_iam_policy_document.tls_only_destination.json

  depends_on = [aws_s3_bucket_public_access_block.destination]
}

data "aws_iam_policy_document" "s3_replication_assume" {
  provider = aws.workload_primary

  statement {
    sid     = "S3Assume"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.workload_account_id]
    }
  }
}

resource "aws_iam_role" "s3_replication" {
  provider = aws.workload_primary

  name               = "${local.prefix}-bundles-replication"
  description        = "S3 replication of ${local.source_bucket} to ${local.destination_bucket}"
  assume_role_policy = data.aws_iam_policy_document.s3_replication_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "s3_replication" {
  provider = aws.workload_primary

  statement {
    sid       = "ReadSourceConfiguration"
    actions   = ["s3:GetReplicationConfiguration", "s3:ListBucket"]
    resources = [aws_s3_bucket.source.arn]
  }

  statement {
    sid       = "ReadSourceObjects"
    actions   = ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"]
    resources = ["${aws_s3_bucket.source.arn}/*"]
  }

  statement {
    sid       = "WriteReplicas"
    actions   = ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"]
    resources = ["${aws_s3_bucket.destination.arn}/*"]
  }

  statement {
    sid       = "DecryptSource"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.primary.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.primary_region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "EncryptReplicas"
    actions   = ["kms:Encrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.secondary.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.secondary_region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "s3_replication" {
  provider = aws.workload_primary

  name   = "bundles-replication"
  role   = aws_iam_role.s3_replication.id
  policy = data.aws_iam_policy_document.s3_replication.json
}

resource "aws_s3_bucket_replication_configuration" "bundles" {
  provider = aws.workload_primary

  role   = aws_iam_role.s3_replication.arn
  bucket = aws_s3_bucket.source.id

  rule {
    id     = local.s3_rule_id
    status = "Enabled"

    filter {}

    delete_marker_replication {
      status = "Enabled"
    }

    source_selection_criteria {
      sse_kms_encrypted_objects {
        status = "Enabled"
      }
    }

    destination {
      bucket        = aws_s3_bucket.destination.arn
      storage_class = "STANDARD"

      encryption_configuration {
        replica_kms_key_id = aws_kms_key.secondary.arn
      }

      # Publishes ReplicationLatency / OperationsPendingReplication / OperationsFailedReplication,
      # which replication-monitor reads.
      metrics {
        status = "Enabled"

        event_threshold {
          minutes = var.replication_time_minutes
        }
      }

      replication_time {
        status = "Enabled"

        time {
          minutes = var.replication_time_minutes
        }
      }
    }
  }

  depends_on = [aws_s3_bucket_versioning.source, aws_s3_bucket_versioning.destination]
}

################################################################################
# Secrets Manager: replicated secrets (workload account)
################################################################################

resource "aws_secretsmanager_secret" "this" {
  #checkov:skip=CKV2_AWS_57: rotation belongs to the service that owns the credential (e.g. the database's managed rotation); this module only creates and replicates the container.
  for_each = var.secrets
  provider = aws.workload_primary

  name                    = each.key
  description             = each.value
  kms_key_id              = aws_kms_key.primary.arn
  recovery_window_in_days = 30

  replica {
    region     = var.secondary_region
    kms_key_id = aws_kms_key.secondary.arn
  }

  tags = var.tags
}
