terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.70"
      # shared_*: the shared-services account (ECR); workload_*: dev or prod (S3 bundles, secrets).
      configuration_aliases = [aws.shared_primary, aws.shared_secondary, aws.workload_primary, aws.workload_secondary]
    }
  }
}
