//! SSM Parameter Store: the config document (optional) and small state documents.

use crate::aws::map_err;
use crate::error::{AwsErrorKind, Error, Result};
use aws_sdk_ssm::types::ParameterType;
use aws_sdk_ssm::Client;

#[derive(Clone, Debug)]
pub struct Ssm {
    client: Client,
    region: String,
}

impl Ssm {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: Client::new(config),
            region: config.region().map(|r| r.to_string()).unwrap_or_default(),
        }
    }

    /// Reads a parameter (decrypted); `None` if it does not exist.
    pub async fn get(&self, name: &str) -> Result<Option<String>> {
        match self
            .client
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await
        {
            Ok(out) => Ok(out.parameter.and_then(|p| p.value)),
            Err(e) => {
                let err = map_err("ssm", "GetParameter", &self.region, e);
                if err.aws_kind() == Some(AwsErrorKind::NotFound) {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Reads a required parameter, for the config document.
    pub async fn get_required(&self, name: &str) -> Result<String> {
        self.get(name)
            .await?
            .ok_or_else(|| Error::Config(vec![format!("SSM parameter {name} does not exist")]))
    }

    /// Writes a parameter (String type, overwritten).
    pub async fn put(&self, name: &str, value: &str) -> Result<()> {
        self.client
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .map_err(|e| map_err("ssm", "PutParameter", &self.region, e))?;
        Ok(())
    }
}
