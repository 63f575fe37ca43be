//! The operators' entry point: a Lambda function URL with `AWS_IAM` auth. Lambda
//! verifies the request's SigV4 signature and authorises the caller before the function
//! runs, and hands the function the caller's identity in the request context
//! (`requestContext.authorizer.iam.userArn`), so the identity recorded as
//! `requested_by` is the authenticated principal, never a payload field.
//! <https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html>
//! The event is the API Gateway payload format 2.0; its body may be base64-encoded
//! (`isBase64Encoded`); the answer is `{statusCode, headers, body}`.
//! <https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html>

use crate::error::{Error, Result};
use crate::region::Arn;
use serde_json::{json, Map, Value};

/// A request that came through the function URL: who signed it, and its body (the
/// manual action's JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct UrlRequest {
    /// `requestContext.authorizer.iam.userArn`: the caller Lambda authenticated.
    pub caller_arn: String,
    pub body: Value,
}

impl UrlRequest {
    /// `Some` when `payload` has the function URL's shape (payload version 2.0 with an
    /// HTTP request context); then the body read, or why it cannot be.
    pub fn recognise(payload: &Value) -> Option<Result<Self>> {
        let map = payload.as_object()?;
        let context = map.get("requestContext")?.as_object()?;
        if map.get("version").and_then(Value::as_str) != Some("2.0")
            || !context.contains_key("http")
        {
            return None;
        }
        Some(Self::read(map, context))
    }

    fn read(map: &Map<String, Value>, context: &Map<String, Value>) -> Result<Self> {
        let caller_arn = context
            .get("authorizer")
            .and_then(|a| a.get("iam"))
            .and_then(|iam| iam.get("userArn"))
            .and_then(Value::as_str)
            .filter(|arn| !arn.is_empty())
            .ok_or_else(|| {
                Error::invalid_event(
                    "function URL request without an IAM caller (requestContext.authorizer.iam.userArn): \
                     the URL must use AuthType AWS_IAM",
                )
            })?
            .to_string();
        let method = context
            .get("http")
            .and_then(|h| h.get("method"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        if method != "POST" {
            return Err(Error::invalid_event(format!(
                "function URL: {method} is not served; POST the manual action as JSON"
            )));
        }
        let text = match map.get("body") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => {
                return Err(Error::invalid_event(
                    "function URL: `body` must be a string",
                ))
            }
        };
        let text = if map.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
            let bytes = base64_decode(&text).ok_or_else(|| {
                Error::invalid_event("function URL: the body is marked base64 but is not base64")
            })?;
            String::from_utf8(bytes)
                .map_err(|_| Error::invalid_event("function URL: the body is not UTF-8 text"))?
        } else {
            text
        };
        let body = serde_json::from_str(&text).map_err(|e| {
            Error::invalid_event(format!("function URL: the body is not JSON ({e})"))
        })?;
        Ok(Self { caller_arn, body })
    }
}

/// The function URL's answer for a result: the decision record as a 200, an input
/// error as a 400 and anything else as a 500, each with a JSON body (an error as
/// Lambda writes one: `errorType`, `errorMessage`).
pub fn url_response(result: &Result<Value>) -> Value {
    let (status, body) = match result {
        Ok(record) => (200, record.clone()),
        Err(e) => (
            if e.is_retryable() { 500 } else { 400 },
            json!({"errorType": e.error_type(), "errorMessage": e.to_string()}),
        ),
    };
    json!({
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": body.to_string(),
        "isBase64Encoded": false,
    })
}

/// The configured operator role a caller's session belongs to. Only role sessions
/// count: `arn:PARTITION:sts::ACCOUNT:assumed-role/NAME/SESSION` is a session of
/// `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME` (a session ARN carries the role's name
/// but not its path).
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-arns>
pub fn operator_role<'a>(caller_arn: &str, roles: &'a [Arn]) -> Option<&'a Arn> {
    let caller = Arn::parse(caller_arn).ok()?;
    if caller.service() != "sts" {
        return None;
    }
    let mut session = caller.resource().split('/');
    let (Some("assumed-role"), Some(name), Some(_session)) =
        (session.next(), session.next(), session.next())
    else {
        return None;
    };
    let partition = caller_arn.split(':').nth(1)?;
    roles.iter().find(|role| {
        role.service() == "iam"
            && role.as_str().split(':').nth(1) == Some(partition)
            && role.account() == caller.account()
            && role
                .resource()
                .strip_prefix("role/")
                .and_then(|path| path.rsplit('/').next())
                == Some(name)
    })
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes: Vec<u8> = text.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for chunk in bytes.chunks(4) {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || chunk[..4 - pad].contains(&b'=') {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = n << 6 | value(c)?;
        }
        n <<= 6 * pad as u32;
        let three = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&three[..3 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(arns: &[&str]) -> Vec<Arn> {
        arns.iter().map(|a| Arn::parse(a).unwrap()).collect()
    }

    #[test]
    fn a_session_of_a_configured_role_is_an_operator_and_nothing_else_is() {
        let configured = roles(&[
            "arn:aws:iam::333333333333:role/orders-operator",
            "arn:aws:iam::333333333333:role/teams/sre/orders-oncall",
        ]);
        // (caller, the role it matches)
        let cases: &[(&str, Option<&str>)] = &[
            (
                "arn:aws:sts::333333333333:assumed-role/orders-operator/alice",
                Some("arn:aws:iam::333333333333:role/orders-operator"),
            ),
            // a role with a path: the session ARN carries the name only
            (
                "arn:aws:sts::333333333333:assumed-role/orders-oncall/bob@example.com",
                Some("arn:aws:iam::333333333333:role/teams/sre/orders-oncall"),
            ),
            // the same role name in another account
            (
                "arn:aws:sts::222222222222:assumed-role/orders-operator/alice",
                None,
            ),
            // another partition
            (
                "arn:aws-cn:sts::333333333333:assumed-role/orders-operator/alice",
                None,
            ),
            // an IAM user, the account root, another role
            ("arn:aws:iam::333333333333:user/alice", None),
            ("arn:aws:iam::333333333333:root", None),
            (
                "arn:aws:sts::333333333333:assumed-role/orders-reader/alice",
                None,
            ),
            // the role's ARN itself is not a session
            ("arn:aws:iam::333333333333:role/orders-operator", None),
            // a name that only ends like the role's
            (
                "arn:aws:sts::333333333333:assumed-role/x-orders-operator/alice",
                None,
            ),
            (
                "arn:aws:sts::333333333333:assumed-role/orders-operator",
                None,
            ),
            ("not an arn", None),
        ];
        for (caller, expected) in cases {
            assert_eq!(
                operator_role(caller, &configured).map(Arn::as_str),
                *expected,
                "{caller}"
            );
        }
        assert_eq!(
            operator_role(
                "arn:aws:sts::333333333333:assumed-role/orders-operator/alice",
                &[]
            ),
            None
        );
    }

    fn url_event(body: &str, base64: bool, user_arn: Option<&str>) -> Value {
        let mut context = json!({
            "accountId": "333333333333",
            "http": {"method": "POST", "path": "/"},
        });
        if let Some(arn) = user_arn {
            context["authorizer"] = json!({"iam": {"userArn": arn, "accountId": "333333333333"}});
        }
        json!({"version": "2.0", "rawPath": "/", "requestContext": context,
               "body": body, "isBase64Encoded": base64})
    }

    #[test]
    fn the_url_event_gives_the_signed_caller_and_the_body() {
        let by = "arn:aws:sts::333333333333:assumed-role/orders-operator/alice";
        let plain = UrlRequest::recognise(&url_event(r#"{"action":"status"}"#, false, Some(by)))
            .unwrap()
            .unwrap();
        assert_eq!(plain.caller_arn, by);
        assert_eq!(plain.body, json!({"action": "status"}));
        // the same body, base64-encoded as Lambda may deliver it
        let encoded =
            UrlRequest::recognise(&url_event("eyJhY3Rpb24iOiJzdGF0dXMifQ==", true, Some(by)))
                .unwrap()
                .unwrap();
        assert_eq!(encoded, plain);

        let unsigned = UrlRequest::recognise(&url_event("{}", false, None))
            .unwrap()
            .unwrap_err();
        assert!(unsigned.to_string().contains("AWS_IAM"), "{unsigned}");
        let bad = UrlRequest::recognise(&url_event("e30", true, Some(by)))
            .unwrap()
            .unwrap_err();
        assert!(bad.to_string().contains("base64"), "{bad}");
        // other shapes are not function URL requests
        assert!(UrlRequest::recognise(&json!({"action": "status"})).is_none());
        assert!(UrlRequest::recognise(&json!({"requestContext": {}})).is_none());
    }

    #[test]
    fn answers_are_http_responses() {
        let ok = url_response(&Ok(json!({"outcome": "applied"})));
        assert_eq!(ok["statusCode"], 200);
        assert_eq!(ok["body"], r#"{"outcome":"applied"}"#);
        let refused = url_response(&Err(Error::invalid_event("no")));
        assert_eq!(refused["statusCode"], 400);
        let body: Value = serde_json::from_str(refused["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["errorMessage"], "rejected event: no");
    }
}
