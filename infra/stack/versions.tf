terraform {
  # use_lockfile (S3-native state locking) needs Terraform >= 1.10.
  required_version = ">= 1.10.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.70, < 7.0"
    }
  }

  # Partial configuration: bucket, key, region (and assume_role) come from
  # `terraform init -backend-config=backend.hcl` (see backend.hcl.example).
  backend "s3" {
    encrypt      = true
    use_lockfile = true # lock with a .tflock object next to the state; no DynamoDB table
  }
}
