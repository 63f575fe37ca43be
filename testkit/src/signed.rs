//! One SigV4-signed HTTP request to the local world, for the calls the SDKs the
//! harness links do not make (EC2's query API): signed as an SDK signs it, with the
//! credentials [`crate::LocalAws::sdk_config`] uses.

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use http_body_util::Full;
use hyper::body::Bytes;
use std::time::{Duration, SystemTime};

/// What to sign: the service and region of the credential scope, and as whom.
pub struct Signer<'a> {
    pub service: &'a str,
    pub region: &'a str,
    pub access_key: &'a str,
    pub secret_key: &'a str,
}

/// POSTs `body` to `url` (`http://host:port/path`), signed by `signer`; the status
/// and body of the answer.
pub async fn post(
    url: &str,
    content_type: &str,
    body: &[u8],
    signer: &Signer<'_>,
) -> Result<(u16, Vec<u8>), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// URLs are served by the local world"))?;
    let (host_port, _) = rest.split_once('/').unwrap_or((rest, ""));
    let mut request = hyper::Request::builder()
        .method("POST")
        .uri(url)
        .header(hyper::header::HOST, host_port)
        .header(hyper::header::CONTENT_TYPE, content_type)
        .header(hyper::header::CONNECTION, "close")
        .body(Full::new(Bytes::copy_from_slice(body)))
        .map_err(|e| e.to_string())?;
    sign_request(&mut request, body, signer)?;
    // The path only, as a client sends it to the host it connected to.
    let path = format!("/{}", rest.split_once('/').map_or("", |(_, p)| p));
    *request.uri_mut() = path.parse().map_err(|e| format!("{path}: {e}"))?;

    let call = crate::http::send(host_port, request);
    let (status, body) = tokio::time::timeout(Duration::from_secs(60), call)
        .await
        .map_err(|_| format!("{url}: no answer in 60 s"))??;
    Ok((status, body.to_vec()))
}

/// Adds SigV4's `Authorization` and `X-Amz-Date` headers to `request`.
pub fn sign_request(
    request: &mut hyper::Request<Full<Bytes>>,
    body: &[u8],
    signer: &Signer<'_>,
) -> Result<(), String> {
    let identity =
        Credentials::new(signer.access_key, signer.secret_key, None, None, "testkit").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(signer.region)
        .name(signer.service)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let uri = request.uri().to_string();
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .filter(|(name, _)| *name != hyper::header::CONNECTION)
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let signable = SignableRequest::new(
        "POST",
        uri,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    instructions.apply_to_request_http1x(request);
    Ok(())
}
