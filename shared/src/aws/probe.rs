//! Probes: one HTTP(S) GET per health endpoint URL, each bounded by a timeout, all at
//! once. TLS trusts what the SDK's client trusts ([`super::tls`]): AWS's roots, which
//! sign the certificates ACM issues to an ALB or an API Gateway custom domain, or the
//! system's store with `CONTROL_PLANE_TLS_TRUST=system`. A new connection per probe:
//! the probe is of the endpoint as a new client meets it (DNS, TCP, TLS, answer).

use crate::aws::tls::{Trust, AWS_ROOTS_PEM, TRUST_ENV};
use crate::probe::{ProbeAnswer, ProbeUrl};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::sync::Arc;
use std::time::Duration;

type Body = http_body_util::Empty<hyper::body::Bytes>;

/// GETs every URL at once; each answer within `timeout`, or why there was none.
pub async fn probe_all(urls: &[String], timeout: Duration) -> Vec<(String, ProbeAnswer)> {
    let client = match client() {
        Ok(client) => client,
        Err(why) => {
            return urls
                .iter()
                .map(|u| (u.clone(), ProbeAnswer::NoAnswer(why.clone())))
                .collect()
        }
    };
    let probes = urls.iter().map(|url| {
        let client = client.clone();
        async move {
            let answer = match tokio::time::timeout(timeout, get(&client, url)).await {
                Ok(answer) => answer,
                Err(_) => ProbeAnswer::NoAnswer(format!("no answer in {} ms", timeout.as_millis())),
            };
            (url.clone(), answer)
        }
    });
    futures::future::join_all(probes).await
}

type HttpsClient =
    Client<hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>, Body>;

async fn get(client: &HttpsClient, url: &str) -> ProbeAnswer {
    let parsed = match ProbeUrl::parse(url) {
        Ok(p) => p,
        Err(why) => return ProbeAnswer::NoAnswer(why),
    };
    let request = hyper::Request::builder()
        .method("GET")
        .uri(parsed.to_string())
        .header(hyper::header::USER_AGENT, "controlplane-probe")
        .body(Body::new());
    let request = match request {
        Ok(r) => r,
        Err(e) => return ProbeAnswer::NoAnswer(e.to_string()),
    };
    match client.request(request).await {
        Ok(response) => ProbeAnswer::Status(response.status().as_u16()),
        Err(e) => {
            let mut why = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                why = format!("{why}: {s}");
                source = s.source();
            }
            ProbeAnswer::NoAnswer(why)
        }
    }
}

fn client() -> Result<HttpsClient, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let trust = Trust::parse(std::env::var(TRUST_ENV).ok().as_deref()).unwrap_or(Trust::AwsRoots);
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let builder = match trust {
        Trust::AwsRoots => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(AWS_ROOTS_PEM.as_bytes()) {
                let cert = cert.map_err(|e| format!("AWS roots: {e}"))?;
                roots.add(cert).map_err(|e| format!("AWS roots: {e}"))?;
            }
            let tls = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS: {e}"))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            builder.with_tls_config(tls)
        }
        Trust::System => builder
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| format!("TLS roots: {e}"))?,
    };
    let connector = builder.https_or_http().enable_http1().build();
    Ok(Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build(connector))
}
