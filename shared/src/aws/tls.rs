//! The roots the SDK's HTTPS client trusts: AWS's own, compiled in.
//!
//! The SDK's default client loads the operating system's trust store when each client
//! is built: on Lambda's provided runtimes that is one bundle plus every hashed file in
//! the certificate directory (about 150 opens and parses), most of a cold start's init.
//! Every call these functions make goes to an AWS service endpoint, and those chain to
//! Amazon Trust Services: Amazon Root CA 1-4 and Starfield Services Root G2, the five ATS
//! recommends for custom trust stores (<https://www.amazontrust.com/repository/>), and
//! Starfield Class 2, which the AWS API references list beside them ("Certificate errors
//! when using an SDK", e.g. <https://docs.aws.amazon.com/lambda/latest/api/welcome.html>).
//! Those six are compiled in (`aws-roots.pem`), so init reads no file.
//!
//! Where a proxy inspects TLS with a private CA in the trust store, set
//! `CONTROL_PLANE_TLS_TRUST=system` to trust the operating system's store instead.

use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// `aws` (the default: the compiled-in roots) or `system` (the operating system's store).
pub const TRUST_ENV: &str = "CONTROL_PLANE_TLS_TRUST";

/// The roots of AWS's service endpoints, in PEM (comments name each one).
pub const AWS_ROOTS_PEM: &str = include_str!("aws-roots.pem");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    AwsRoots,
    System,
}

impl Trust {
    /// The trust [`TRUST_ENV`] asks for; unset is the compiled-in roots, anything
    /// else than `aws` or `system` is an error naming both.
    pub fn parse(value: Option<&str>) -> Result<Self, String> {
        match value.map(str::trim) {
            None | Some("") | Some("aws") => Ok(Self::AwsRoots),
            Some("system") => Ok(Self::System),
            Some(other) => Err(format!(
                "{TRUST_ENV}={other:?} is not a trust: use `aws` (AWS's roots, compiled in) or \
                 `system` (the operating system's store)"
            )),
        }
    }
}

/// The HTTPS client every SDK client of the process shares: the SDK's own (hyper,
/// rustls on aws-lc, the same ciphers), with the trust chosen.
pub fn https_client(trust: Trust) -> SharedHttpClient {
    let store = match trust {
        Trust::AwsRoots => TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(AWS_ROOTS_PEM.as_bytes()),
        Trust::System => TrustStore::default(),
    };
    let context = TlsContext::builder()
        .with_trust_store(store)
        .build()
        .expect("a trust store without extra server names always builds");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_types::base64;

    /// The DER of each certificate in the bundle.
    fn certificates(pem: &str) -> Vec<Vec<u8>> {
        pem.split("-----BEGIN CERTIFICATE-----")
            .skip(1)
            .map(|block| {
                let body = block.split("-----END CERTIFICATE-----").next().unwrap();
                let b64: String = body.split_whitespace().collect();
                base64::decode(b64).expect("valid base64")
            })
            .collect()
    }

    fn contains(haystack: &[u8], needle: &str) -> bool {
        haystack
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    }

    #[test]
    fn the_bundle_is_exactly_the_roots_aws_names() {
        let certs = certificates(AWS_ROOTS_PEM);
        let names = [
            "Amazon Root CA 1",
            "Amazon Root CA 2",
            "Amazon Root CA 3",
            "Amazon Root CA 4",
            "Starfield Services Root Certificate Authority - G2",
            "Starfield Class 2 Certification Authority",
        ];
        assert_eq!(certs.len(), names.len());
        for (cert, name) in certs.iter().zip(names) {
            assert!(contains(cert, name), "{name} is not where the bundle says");
        }
    }

    #[test]
    fn the_trust_knob_takes_aws_or_system_and_names_both_otherwise() {
        let table: &[(Option<&str>, Result<Trust, &str>)] = &[
            (None, Ok(Trust::AwsRoots)),
            (Some(""), Ok(Trust::AwsRoots)),
            (Some("aws"), Ok(Trust::AwsRoots)),
            (Some(" system "), Ok(Trust::System)),
            (Some("none"), Err("use `aws`")),
            (Some("System"), Err("`system`")),
        ];
        for (value, expected) in table {
            match (Trust::parse(*value), expected) {
                (Ok(got), Ok(want)) => assert_eq!(got, *want, "{value:?}"),
                (Err(e), Err(fragment)) => assert!(e.contains(fragment), "{value:?}: {e}"),
                (got, want) => panic!("{value:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    /// Building a client parses the roots (the SDK builds its connector then): a bundle
    /// that did not parse would panic here, not at the first call in production.
    #[test]
    fn a_client_builds_on_the_compiled_in_roots() {
        let config = aws_config::SdkConfig::builder()
            .http_client(https_client(Trust::AwsRoots))
            .behavior_version(crate::aws::behavior_version())
            .region(aws_config::Region::new("eu-central-1"))
            .build();
        let _ = aws_sdk_sns::Client::new(&config);
    }
}
