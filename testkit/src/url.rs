//! Function URLs as Lambda delivers them: the request event (payload format 2.0, the
//! caller Lambda authenticated in `requestContext.authorizer.iam`) and the HTTP answer
//! read back. The local world builds the same event when it serves a function URL; the
//! harness builds it where it stands in for Lambda (a process under the Runtime API
//! emulator).
//! <https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html>

use crate::runtime::Reply;
use serde_json::{json, Value};

/// The function URL event for a POST of `payload` signed by `caller` (an IAM ARN).
pub fn event(payload: &Value, caller: &str) -> Value {
    let account = caller.split(':').nth(4).unwrap_or_default();
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "accountId": account,
            "apiId": "local",
            "authorizer": {"iam": {
                "accessKey": "LOCAL",
                "accountId": account,
                "callerId": caller.rsplit('/').next().unwrap_or_default(),
                "userArn": caller,
                "userId": caller.rsplit('/').next().unwrap_or_default(),
            }},
            "domainName": "local.lambda-url.localhost",
            "http": {"method": "POST", "path": "/", "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "testkit"},
            "requestId": "local",
            "routeKey": "$default",
            "stage": "$default",
            "time": chrono::Utc::now().format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
            "timeEpoch": chrono::Utc::now().timestamp_millis(),
        },
        "body": payload.to_string(),
        "isBase64Encoded": false,
    })
}

/// A function URL's answer (`{statusCode, body}`) as the invocation's [`Reply`]: the
/// body of a 200, or the error document of any other status.
pub fn reply(answer: Reply) -> Reply {
    let Reply::Ok(answer) = answer else {
        return answer;
    };
    let status = answer["statusCode"].as_u64().unwrap_or(200);
    let body = match &answer["body"] {
        Value::String(text) => serde_json::from_str(text).unwrap_or(Value::String(text.clone())),
        other => other.clone(),
    };
    if status == 200 {
        return Reply::Ok(body);
    }
    Reply::Error {
        error_type: body["errorType"]
            .as_str()
            .map_or_else(|| format!("HTTP {status}"), str::to_string),
        error_message: body["errorMessage"]
            .as_str()
            .map_or_else(|| body.to_string(), str::to_string),
    }
}
