//! Validated identifiers: AWS regions, account ids and ARNs.

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// An AWS region code such as `eu-central-1`. Validated for shape; whether the
/// control plane may touch it is the config's allow-list (`regions`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Region(String);

impl Region {
    pub fn parse(text: &str) -> Result<Self, String> {
        // <area>-<direction>-<n>, optionally with a partition infix (us-gov-west-1).
        let parts: Vec<&str> = text.split('-').collect();
        let ok = (3..=4).contains(&parts.len())
            && parts[..parts.len() - 1]
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
            && parts[parts.len() - 1].parse::<u8>().is_ok();
        if ok {
            Ok(Self(text.to_string()))
        } else {
            Err(format!(
                "{text:?} is not an AWS region code (like eu-central-1)"
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Region {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Region::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A 12-digit AWS account id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct AccountId(String);

impl AccountId {
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() == 12 && text.chars().all(|c| c.is_ascii_digit()) {
            Ok(Self(text.to_string()))
        } else {
            Err(format!("{text:?} is not a 12-digit AWS account id"))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for AccountId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        AccountId::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// An ARN, `arn:partition:service:region:account:resource`, split once.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Arn(String);

impl Arn {
    pub fn parse(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.splitn(6, ':').collect();
        if parts.len() != 6
            || parts[0] != "arn"
            || parts[1].is_empty()
            || parts[2].is_empty()
            || parts[5].is_empty()
        {
            return Err(format!(
                "{text:?} is not an ARN (arn:partition:service:region:account:resource)"
            ));
        }
        if !parts[3].is_empty() {
            Region::parse(parts[3]).map_err(|e| format!("ARN {text:?}: {e}"))?;
        }
        if !parts[4].is_empty() {
            AccountId::parse(parts[4]).map_err(|e| format!("ARN {text:?}: {e}"))?;
        }
        Ok(Self(text.to_string()))
    }
    fn part(&self, i: usize) -> &str {
        self.0.splitn(6, ':').nth(i).unwrap_or_default()
    }
    pub fn service(&self) -> &str {
        self.part(2)
    }
    pub fn region(&self) -> Option<Region> {
        Some(self.part(3))
            .filter(|s| !s.is_empty())
            .map(|s| Region(s.to_string()))
    }
    pub fn account(&self) -> Option<AccountId> {
        Some(self.part(4))
            .filter(|s| !s.is_empty())
            .map(|s| AccountId(s.to_string()))
    }
    pub fn resource(&self) -> &str {
        self.part(5)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Arn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Arn::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A CloudWatch alarm's ARN, `arn:<partition>:cloudwatch:<region>:<account>:alarm:<name>`:
/// names alone repeat across accounts and regions, so failover identifies its alarms by this.
/// Ordered and compared as the ARN text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AlarmArn {
    // First, so the derived order is the text's; the parts follow from it.
    arn: String,
    partition: String,
    region: Region,
    account: AccountId,
    name: String,
}

impl AlarmArn {
    /// The shape, for messages.
    pub const FORMAT: &'static str = "arn:aws:cloudwatch:REGION:ACCOUNT:alarm:NAME";

    pub fn parse(text: &str) -> Result<Self, String> {
        Self::split(text).map_err(|why| {
            format!(
                "{text:?} is not a CloudWatch alarm ARN ({}): {why}",
                Self::FORMAT
            )
        })
    }

    /// [`AlarmArn::parse`] whose error is only the reason (the caller names the text).
    pub(crate) fn split(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.splitn(6, ':').collect();
        let [prefix, partition, service, region, account, resource] = parts[..] else {
            return Err("it is not an ARN (arn:partition:service:region:account:resource)".into());
        };
        if prefix != "arn" || partition.is_empty() {
            return Err("it is not an ARN (arn:partition:service:region:account:resource)".into());
        }
        if service != "cloudwatch" {
            return Err(format!("the service is {service:?}"));
        }
        if region.is_empty() {
            return Err("the region is empty".into());
        }
        let region = Region::parse(region)?;
        if account.is_empty() {
            return Err("the account is empty".into());
        }
        let account = AccountId::parse(account)?;
        let name = match resource.strip_prefix("alarm:") {
            Some(name) if !name.is_empty() => name.to_string(),
            _ => return Err(format!("the resource {resource:?} is not alarm:NAME")),
        };
        Ok(Self {
            arn: text.to_string(),
            partition: partition.to_string(),
            region,
            account,
            name,
        })
    }

    pub fn partition(&self) -> &str {
        &self.partition
    }
    /// The region the alarm lives in (not the region it watches).
    pub fn region(&self) -> &Region {
        &self.region
    }
    pub fn account(&self) -> &AccountId {
        &self.account
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn as_str(&self) -> &str {
        &self.arn
    }
}

impl fmt::Display for AlarmArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.arn)
    }
}

impl Serialize for AlarmArn {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.arn)
    }
}

impl<'de> Deserialize<'de> for AlarmArn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        AlarmArn::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions() {
        assert!(Region::parse("eu-central-1").is_ok());
        assert!(Region::parse("us-gov-west-1").is_ok());
        for bad in [
            "",
            "eu",
            "EU-central-1",
            "eu-central",
            "eu-central-x",
            "moon-1",
        ] {
            assert!(Region::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn arns_split_into_parts() {
        let arn = Arn::parse("arn:aws:sns:us-east-1:333333333333:alerts").unwrap();
        assert_eq!(arn.service(), "sns");
        assert_eq!(arn.region().unwrap().as_str(), "us-east-1");
        assert_eq!(arn.account().unwrap().as_str(), "333333333333");
        assert_eq!(arn.resource(), "alerts");
        let role = Arn::parse("arn:aws:iam::111111111111:role/x").unwrap();
        assert!(role.region().is_none());
        assert!(Arn::parse("arn:aws:sns:mars:1:x").is_err());
        assert!(Arn::parse("not-an-arn").is_err());
    }

    #[test]
    fn alarm_arns_split_into_parts() {
        let text = "arn:aws:cloudwatch:us-east-1:333333333333:alarm:orders-health-eu-central-1";
        let arn = AlarmArn::parse(text).unwrap();
        assert_eq!(arn.partition(), "aws");
        assert_eq!(arn.region().as_str(), "us-east-1");
        assert_eq!(arn.account().as_str(), "333333333333");
        assert_eq!(arn.name(), "orders-health-eu-central-1");
        assert_eq!(arn.to_string(), text);
        assert_eq!(serde_json::to_value(&arn).unwrap(), serde_json::json!(text));
        // A name may itself hold colons.
        let odd = AlarmArn::parse("arn:aws-us-gov:cloudwatch:us-gov-west-1:333333333333:alarm:a:b")
            .unwrap();
        assert_eq!((odd.partition(), odd.name()), ("aws-us-gov", "a:b"));
        for (bad, why) in [
            ("orders-health-us-east-1", "is not an ARN"),
            (
                "arn:aws:sns:us-east-1:333333333333:alarm:x",
                "the service is \"sns\"",
            ),
            (
                "arn:aws:cloudwatch::333333333333:alarm:x",
                "the region is empty",
            ),
            (
                "arn:aws:cloudwatch:us-east-1::alarm:x",
                "the account is empty",
            ),
            (
                "arn:aws:cloudwatch:us-east-1:333333333333:alarm:",
                "not alarm:NAME",
            ),
            (
                "arn:aws:cloudwatch:us-east-1:333333333333:dashboard/x",
                "not alarm:NAME",
            ),
            (
                "arn:aws:cloudwatch:moon-1:333333333333:alarm:x",
                "not an AWS region",
            ),
            ("arn:aws:cloudwatch:us-east-1:3333:alarm:x", "12-digit"),
        ] {
            let err = AlarmArn::parse(bad).expect_err(bad);
            assert!(
                err.contains(why) && err.contains(AlarmArn::FORMAT),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn accounts() {
        assert!(AccountId::parse("123456789012").is_ok());
        assert!(AccountId::parse("12345").is_err());
    }
}
