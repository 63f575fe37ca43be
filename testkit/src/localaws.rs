//! Client for the local AWS world (`tests/localaws`): attach to a running one at
//! `LOCALAWS_URL` (default http://127.0.0.1:4566) or start one on a free port.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header;
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// The environment variable the local world reads its time scale from.
pub const TIME_SCALE_ENV: &str = "LOCALAWS_TIME_SCALE";
/// The time scale of worlds started here unless the environment says otherwise: a
/// minute of AWS time lasts 1.2 s.
pub const TIME_SCALE: f64 = 0.02;

#[derive(Debug, Clone)]
pub struct LocalAws {
    pub url: String,
    host_port: String,
}

static SHARED: OnceCell<LocalAws> = OnceCell::const_new();

impl LocalAws {
    pub fn at(url: &str) -> Self {
        let host_port = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        Self {
            url: format!("http://{host_port}"),
            host_port,
        }
    }

    /// The process-wide instance: attached if one answers at `LOCALAWS_URL`
    /// (default port 4566), otherwise started on a free port for this process.
    pub async fn shared() -> &'static LocalAws {
        SHARED
            .get_or_init(|| async {
                let url = std::env::var("LOCALAWS_URL")
                    .unwrap_or_else(|_| "http://127.0.0.1:4566".into());
                let candidate = LocalAws::at(&url);
                if candidate.healthy().await {
                    return candidate;
                }
                LocalAws::start().await.unwrap_or_else(|e| panic!("{e}"))
            })
            .await
    }

    /// Starts `python -m localaws` from the repo's venv on a free port. The child
    /// is watched by a small shell loop that stops it when this process exits.
    ///
    /// The world is as strict as AWS (quotas, limits, allocation times); only its
    /// clock runs faster: `LOCALAWS_TIME_SCALE` from the environment, else
    /// [`TIME_SCALE`], so a minute of AWS time (provisioned-concurrency allocation,
    /// Scheduler's precision) lasts a second or so here.
    pub async fn start() -> Result<Self, String> {
        let root = crate::repo_root();
        let python = root.join(".venv/bin/python");
        if !python.exists() {
            return Err(format!(
                "the local AWS world is not installed: {} is missing (run `make setup`)",
                python.display()
            ));
        }
        let port = free_port()?;
        let scale = std::env::var(TIME_SCALE_ENV).unwrap_or_else(|_| TIME_SCALE.to_string());
        let script = format!(
            "cd {dir} && LOCALAWS_PORT={port} {TIME_SCALE_ENV}={scale} {py} -m localaws >{log} 2>&1 & child=$!; \
             while kill -0 {parent} 2>/dev/null; do sleep 0.5; done; kill $child",
            dir = root.join("tests/localaws").display(),
            scale = shell_word(&scale),
            py = python.display(),
            log = std::env::temp_dir()
                .join(format!("localaws-{port}.log"))
                .display(),
            parent = std::process::id(),
        );
        std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("could not start the local AWS world: {e}"))?;
        let world = Self::at(&format!("127.0.0.1:{port}"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if world.healthy().await {
                return Ok(world);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "the local AWS world did not answer on port {port} within 30 s (see its log in /tmp)"
        ))
    }

    /// How long one second of AWS time lasts in this world (its time scale).
    pub async fn time_scale(&self) -> f64 {
        self.get("/time-scale").await["scale"]
            .as_f64()
            .expect("the world reports its time scale")
    }

    pub async fn healthy(&self) -> bool {
        matches!(
            self.request("GET", "/_localaws/health", None).await,
            Ok((200, _))
        )
    }

    /// SDK configuration for one account and region. The account is encoded in
    /// the access key id, which is how the local world tells accounts apart.
    pub fn sdk_config(&self, account: &str, region: &str) -> aws_config::SdkConfig {
        let credentials = aws_sdk_route53::config::Credentials::new(
            access_key(account),
            SECRET_KEY,
            None,
            None,
            "localaws",
        );
        aws_config::SdkConfig::builder()
            .behavior_version(shared::aws::behavior_version())
            .region(aws_config::Region::new(region.to_string()))
            .endpoint_url(&self.url)
            .credentials_provider(aws_sdk_route53::config::SharedCredentialsProvider::new(
                credentials,
            ))
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(2))
                    .operation_timeout(Duration::from_secs(20))
                    .build(),
            )
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
            .build()
    }

    /// [`Self::sdk_config`] for setting up hundreds of resources at once: the local world
    /// enforces AWS's request quotas per account (Lambda's control plane: 15 a second),
    /// which other tests share, so a throttle is retried up to ten times, backing off.
    pub fn setup_sdk_config(&self, account: &str, region: &str) -> aws_config::SdkConfig {
        self.sdk_config(account, region)
            .into_builder()
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(10))
            .build()
    }

    /// The environment a function process needs to reach this world as `account`.
    pub fn function_env(&self, account: &str, region: &str) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".into(), self.url.clone()),
            ("AWS_REGION".into(), region.into()),
            ("AWS_ACCESS_KEY_ID".into(), access_key(account)),
            ("AWS_SECRET_ACCESS_KEY".into(), SECRET_KEY.into()),
        ]
    }

    /// Makes Lambda `Invoke` of `function` (in `account` and `region`) forward to
    /// `url`, e.g. a [`crate::runtime::FunctionProcess::invoke_url`].
    pub async fn register_invoke_target(
        &self,
        account: &str,
        region: &str,
        function: &str,
        url: &str,
    ) -> Value {
        self.post(
            "/lambda/invoke-targets",
            serde_json::json!({"account": account, "region": region, "function": function, "url": url}),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Value {
        self.admin("GET", path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Value {
        self.admin("POST", path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Value {
        self.admin("DELETE", path, None).await
    }

    /// Clears every injected fault and returns each with the world's counters for it:
    /// `matched`, `injected` and `injectedSeqs` (the call-log `seq` of every call it hit).
    pub async fn clear_faults(&self) -> Vec<Value> {
        match self.delete("/faults").await.get_mut("faults") {
            Some(Value::Array(faults)) => std::mem::take(faults),
            _ => Vec::new(),
        }
    }

    /// An admin call that must succeed.
    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = if path.starts_with("/_localaws") {
            path.to_string()
        } else {
            format!("/_localaws{path}")
        };
        match self.request(method, &path, body.as_ref()).await {
            Ok((status, v)) if (200..300).contains(&status) => v,
            Ok((status, v)) => panic!("admin {method} {path} answered {status}: {v}"),
            Err(e) => panic!("admin {method} {path} failed: {e}"),
        }
    }

    /// One admin call (JSON over loopback) on a connection of its own, closed after
    /// the answer, as the world's admin API expects.
    async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, &self.host_port)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONNECTION, "close")
            .body(Full::new(Bytes::from(
                body.map(|b| b.to_string()).unwrap_or_default(),
            )))
            .map_err(|e| e.to_string())?;
        let call = crate::http::send(&self.host_port, request);
        let (status, body) = tokio::time::timeout(Duration::from_secs(30), call)
            .await
            .map_err(|_| "admin call timed out".to_string())??;
        let body = String::from_utf8_lossy(&body);
        let value = if body.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&body).unwrap_or_else(|_| Value::String(body.into_owned()))
        };
        Ok((status, value))
    }
}

/// The secret of every access key the harness uses (the local world verifies SigV4
/// signatures with it where AWS would: function URLs).
pub const SECRET_KEY: &str = "local-secret";

/// The access key id of `account`: the local world tells accounts apart by it.
pub fn access_key(account: &str) -> String {
    format!("LK{account}XX")
}

/// `value` quoted for `sh` (single quotes, embedded ones escaped).
fn shell_word(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

pub fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}
