//! failover's operator entry point: its Lambda function URL, whose `AWS_IAM` auth hands
//! the function the caller's verified identity, so the decision record's `requested_by`
//! is whoever signed the request (<https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html>).
//! ctl finds the URL with `GetFunctionUrlConfig` and POSTs the manual action to it,
//! signed with SigV4 for service `lambda` and the function's region
//! (<https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html>), with the
//! credentials of the SDK's chain. The answer is the decision record (200) or the
//! function's error (`errorType`, `errorMessage`; 400 for the input, 500 otherwise);
//! Lambda's own refusals are 403 (signature, or no permission) and 429 (throttled, retried
//! as an Invoke's), and a function that crashed is a 502.

use super::{classify, Aws};
use crate::error::{one_line, CallError, Failure, Role};
use aws_sdk_lambda::config::ProvideCredentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::Value;
use shared::ManualAction;
use std::time::{Instant, SystemTime};

/// An HTTP answer: status and body.
pub(crate) struct HttpAnswer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Aws {
    /// Sends `payload` to `function`'s URL in `region`, signed as the caller; a throttled
    /// call (429) is retried per the backoff, one notice line per retry.
    pub async fn invoke_url(
        &self,
        role: Role,
        region: &str,
        function: &str,
        payload: &ManualAction,
    ) -> Result<Value, CallError> {
        let fail = |failure| CallError {
            role,
            region: region.to_string(),
            failure,
        };
        let url = self
            .function_url(role, region, function)
            .await
            .map_err(fail)?;
        let body = payload.to_payload().to_string();
        let started = Instant::now();
        let mut attempt = 1;
        let answer = loop {
            let answer = self
                .post_signed(&url, region, body.as_bytes())
                .await
                .map_err(fail)?;
            if answer.status != 429 {
                break answer;
            }
            let throttle = format!("429 {}", message(&answer));
            if attempt > self.backoff.retries {
                return Err(fail(Failure::Busy {
                    function: function.to_string(),
                    throttle,
                    attempts: attempt,
                    waited: started.elapsed(),
                }));
            }
            let delay = self.backoff.delay(attempt, crate::backoff::jitter());
            (self.notice)(&format!(
                "ctl: {function} in {region} is busy ({throttle}); retry {attempt} of {} in {:.1} s",
                self.backoff.retries,
                delay.as_secs_f64()
            ));
            tokio::time::sleep(delay).await;
            attempt += 1;
        };
        read_answer(function, &url, answer).map_err(fail)
    }

    /// The function's URL, from `GetFunctionUrlConfig`.
    async fn function_url(
        &self,
        role: Role,
        region: &str,
        function: &str,
    ) -> Result<String, Failure> {
        match self
            .lambda(region)
            .get_function_url_config()
            .function_name(function)
            .send()
            .await
        {
            Ok(out) => Ok(out.function_url().to_string()),
            Err(err) => {
                let cause = classify::cause(&err);
                // Lambda says "Function not found: ARN" when the function is missing, and
                // another message when only its URL is: say which.
                if let classify::Cause::Service { code, message } = &cause {
                    if code == "ResourceNotFoundException"
                        && !message.contains("Function not found")
                    {
                        return Err(Failure::NoUrl {
                            function: function.to_string(),
                            region: region.to_string(),
                        });
                    }
                }
                let endpoint = self.endpoint(region, "lambda");
                Err(classify::invoke_failure(
                    cause, role, function, region, endpoint,
                ))
            }
        }
    }

    /// POSTs `body` to `url`, signed with SigV4 (service `lambda`, `region`).
    async fn post_signed(
        &self,
        url: &str,
        region: &str,
        body: &[u8],
    ) -> Result<HttpAnswer, Failure> {
        let provider = self
            .sdk
            .credentials_provider()
            .ok_or_else(|| Failure::Credentials("no credentials provider".into()))?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| Failure::Credentials(one_line(&e)))?;
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| Failure::Request(format!("function URL {url:?}: {e}")))?;
        let host = uri
            .authority()
            .map(|a| a.as_str().to_string())
            .ok_or_else(|| Failure::Request(format!("function URL {url:?} has no host")))?;
        let mut request = hyper::Request::builder()
            .method("POST")
            .uri(uri)
            .header(hyper::header::HOST, host)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::copy_from_slice(body)))
            .map_err(|e| Failure::Request(e.to_string()))?;
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name("lambda")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| Failure::Request(e.to_string()))?
            .into();
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect();
        let signable = SignableRequest::new(
            "POST",
            url,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .map_err(|e| Failure::Request(e.to_string()))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| Failure::Request(e.to_string()))?
            .into_parts();
        instructions.apply_to_request_http1x(&mut request);

        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| Failure::Request(format!("TLS roots: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(connector);
        let call = async {
            let response = client.request(request).await.map_err(|e| {
                let why = one_line(&e);
                if e.is_connect() {
                    Failure::Unreachable {
                        why: short(&why),
                        endpoint: url.to_string(),
                    }
                } else {
                    Failure::Unreadable(why)
                }
            })?;
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| Failure::Unreadable(one_line(&e)))?
                .to_bytes()
                .to_vec();
            Ok(HttpAnswer { status, body })
        };
        tokio::time::timeout(super::OPERATION_TIMEOUT, call)
            .await
            .map_err(|_| Failure::TimedOut {
                why: format!("no answer in {} s", super::OPERATION_TIMEOUT.as_secs()),
                endpoint: url.to_string(),
            })?
    }
}

/// "client error (Connect): tcp connect error: Connection refused (os error 111)" ->
/// "connection refused".
fn short(why: &str) -> String {
    let lower = why.to_lowercase();
    for known in [
        "connection refused",
        "connection reset",
        "timed out",
        "dns error",
    ] {
        if lower.contains(known) {
            return known.to_string();
        }
    }
    why.to_string()
}

/// The `Message` (Lambda's own answers) or `errorMessage` (the function's) of an answer.
fn message(answer: &HttpAnswer) -> String {
    let value: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    ["Message", "message", "errorMessage"]
        .iter()
        .find_map(|k| value[*k].as_str())
        .map_or_else(
            || String::from_utf8_lossy(&answer.body).trim().to_string(),
            str::to_string,
        )
}

pub(crate) fn read_answer(function: &str, url: &str, answer: HttpAnswer) -> Result<Value, Failure> {
    let value: Value = serde_json::from_slice(&answer.body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&answer.body).into_owned()));
    match answer.status {
        200..=299 => Ok(value),
        403 => Err(Failure::UrlDenied {
            function: function.to_string(),
            message: message(&answer),
        }),
        400 | 500 if value["errorMessage"].is_string() => Err(Failure::Function {
            function: function.to_string(),
            error_type: value["errorType"]
                .as_str()
                .unwrap_or("Unhandled")
                .to_string(),
            message: message(&answer),
        }),
        502 => Err(Failure::Function {
            function: function.to_string(),
            error_type: "Unhandled".into(),
            message: format!(
                "{} (502 from {url}: the function failed or crashed)",
                message(&answer)
            ),
        }),
        status => Err(Failure::Refused(format!(
            "{status} from {url}: {}",
            message(&answer)
        ))),
    }
}
