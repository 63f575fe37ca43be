################################################################################
# One provider per account and region. Every provider assumes a deploy role in
# its account (cross-account from the CI / operator account, so with external_id).
################################################################################

provider "aws" {
  alias               = "shared_eu_central_1"
  region              = local.primary.region
  allowed_account_ids = [var.shared_services_account_id]

  assume_role {
    role_arn     = "arn:aws:iam::${var.shared_services_account_id}:role/${var.deploy_role_name}"
    session_name = "terraform-${local.environment}-shared"
    external_id  = var.shared_services_external_id
  }

  default_tags {
    tags = local.tags
  }
}

provider "aws" {
  alias               = "shared_us_east_1"
  region              = local.secondary.region
  allowed_account_ids = [var.shared_services_account_id]

  assume_role {
    role_arn     = "arn:aws:iam::${var.shared_services_account_id}:role/${var.deploy_role_name}"
    session_name = "terraform-${local.environment}-shared"
    external_id  = var.shared_services_external_id
  }

  default_tags {
    tags = local.tags
  }
}

provider "aws" {
  alias               = "workload_eu_central_1"
  region              = local.primary.region
  allowed_account_ids = [var.workload_account_id]

  assume_role {
    role_arn     = "arn:aws:iam::${var.workload_account_id}:role/${var.deploy_role_name}"
    session_name = "terraform-${local.environment}"
    external_id  = var.workload_external_id
  }

  default_tags {
    tags = local.tags
  }
}

provider "aws" {
  alias               = "workload_us_east_1"
  region              = local.secondary.region
  allowed_account_ids = [var.workload_account_id]

  assume_role {
    role_arn     = "arn:aws:iam::${var.workload_account_id}:role/${var.deploy_role_name}"
    session_name = "terraform-${local.environment}"
    external_id  = var.workload_external_id
  }

  default_tags {
    tags = local.tags
  }
}
