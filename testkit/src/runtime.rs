//! A Lambda Runtime API emulator: runs a real `bootstrap` binary as a child
//! process and feeds it events over the Runtime API on loopback (hyper, see
//! [`crate::http`]), the way Lambda does.

use crate::http::{self, Body, Received};
use hyper::{Method, Response};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

/// What an invocation returned.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Ok(Value),
    /// The function reported an error (`error_type` is Retryable/NonRetryable for ours).
    Error {
        error_type: String,
        error_message: String,
    },
}

impl Reply {
    pub fn ok(self) -> Result<Value, String> {
        match self {
            Reply::Ok(v) => Ok(v),
            Reply::Error {
                error_type,
                error_message,
            } => Err(format!("{error_type}: {error_message}")),
        }
    }
}

struct Pending {
    id: String,
    payload: Value,
    reply: oneshot::Sender<Reply>,
}

#[derive(Default)]
struct Shared {
    in_flight: Mutex<HashMap<String, oneshot::Sender<Reply>>>,
    init_error: Mutex<Option<String>>,
    output: Mutex<Vec<String>>,
    /// Set when the process's stdout closes (it exited).
    exited: std::sync::atomic::AtomicBool,
    /// When the process first asked for an event (`GET …/invocation/next`): the end of
    /// its init, what Lambda bills as Init Duration.
    first_next: std::sync::OnceLock<std::time::Instant>,
}

/// One function process under the emulator.
pub struct FunctionProcess {
    child: tokio::process::Child,
    spawned_at: std::time::Instant,
    invoker: Invoker,
    invoke_url: Option<String>,
    pub name: String,
}

impl FunctionProcess {
    /// Starts `binary` with `env`, pointing it at a fresh Runtime API on a free port.
    pub async fn spawn(
        binary: &Path,
        name: &str,
        env: &[(String, String)],
    ) -> Result<Self, String> {
        if !binary.exists() {
            return Err(format!(
                "{} does not exist (build it first: cargo build)",
                binary.display()
            ));
        }
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let (queue, rx) = mpsc::channel::<Pending>(64);
        let shared = Arc::new(Shared::default());
        // The function's ARN as Lambda hands it over: its own account (the local
        // world's: the 12 digits in the access key id) and region.
        let account = env_value(env, "AWS_ACCESS_KEY_ID")
            .and_then(account_in)
            .unwrap_or(crate::PROD);
        let arn = format!(
            "arn:aws:lambda:{}:{account}:function:{name}",
            env_value(env, "AWS_REGION").unwrap_or("eu-central-1")
        );
        let runtime = Runtime {
            queue: Arc::new(tokio::sync::Mutex::new(rx)),
            shared: shared.clone(),
            arn: Arc::new(arn),
        };
        tokio::spawn(http::serve(listener, move |request| {
            runtime.clone().answer(request)
        }));

        let mut command = tokio::process::Command::new(binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .envs(env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let spawned_at = std::time::Instant::now();
        let mut child = command
            .spawn()
            .map_err(|e| format!("could not start {}: {e}", binary.display()))?;
        for (index, stream) in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        ]
        .into_iter()
        .enumerate()
        .filter_map(|(i, s)| s.map(|s| (i, s)))
        {
            let shared = shared.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    shared.output.lock().unwrap().push(line);
                }
                if index == 0 {
                    shared.exited.store(true, Ordering::SeqCst);
                }
            });
        }
        Ok(Self {
            child,
            spawned_at,
            invoker: Invoker {
                queue,
                shared,
                next_id: Arc::new(AtomicU64::new(1)),
                name: name.to_string(),
            },
            invoke_url: None,
            name: name.to_string(),
        })
    }

    /// An HTTP endpoint that invokes this function: POST the payload, get the
    /// result (200) or the error document with `X-Amz-Function-Error: Unhandled`;
    /// 502 when the process failed to start, exited or did not answer. The local
    /// AWS world forwards Lambda `Invoke` here once the url is registered as the
    /// function's invoke target ([`crate::LocalAws::register_invoke_target`]).
    pub async fn invoke_url(&mut self) -> Result<String, String> {
        if let Some(url) = &self.invoke_url {
            return Ok(url.clone());
        }
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let url = format!(
            "http://{}/invoke",
            listener.local_addr().map_err(|e| e.to_string())?
        );
        let invoker = self.invoker.clone();
        tokio::spawn(http::serve(listener, move |request| {
            invoke_endpoint(request, invoker.clone())
        }));
        self.invoke_url = Some(url.clone());
        Ok(url)
    }

    /// Invokes the function once and waits for its answer (at most `timeout`).
    pub async fn invoke_with_timeout(
        &mut self,
        payload: Value,
        timeout: Duration,
    ) -> Result<Reply, String> {
        let (child, shared) = (&mut self.child, &self.invoker.shared);
        let exited = || {
            let status = child.try_wait().ok().flatten()?;
            let output = shared.output.lock().unwrap().join("\n");
            Some(format!("exited ({status}); output:\n{output}"))
        };
        self.invoker.invoke(payload, timeout, exited).await
    }

    pub async fn invoke(&mut self, payload: Value) -> Result<Reply, String> {
        self.invoke_with_timeout(payload, Duration::from_secs(60))
            .await
    }

    /// Sends `payload` through the function's URL as `caller` (the event Lambda builds for
    /// an `AWS_IAM` function URL, [`crate::url::event`]): the record it answered with, or
    /// its error.
    pub async fn invoke_as(&mut self, caller: &str, payload: Value) -> Result<Reply, String> {
        let answer = self.invoke(crate::url::event(&payload, caller)).await?;
        Ok(crate::url::reply(answer))
    }

    /// Spawn to the first `GET …/invocation/next`: the process's init (Lambda's Init
    /// Duration); `None` until it has asked for an event.
    pub fn init_duration(&self) -> Option<Duration> {
        let first_next = self.invoker.shared.first_next.get()?;
        Some(first_next.saturating_duration_since(self.spawned_at))
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub fn output(&self) -> Vec<String> {
        self.invoker.shared.output.lock().unwrap().clone()
    }

    /// The decision records the function logged (one JSON line each).
    pub fn decisions(&self) -> Vec<Value> {
        self.output()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["message"] == "decision")
            .collect()
    }

    /// The child's process id (benchmarks read its peak RSS from /proc).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Queues one invocation for the runtime client; the receiver gets its reply.
async fn enqueue(
    queue: &mpsc::Sender<Pending>,
    next_id: &AtomicU64,
    payload: Value,
) -> Result<oneshot::Receiver<Reply>, String> {
    let id = format!("req-{}", next_id.fetch_add(1, Ordering::Relaxed));
    let (tx, rx) = oneshot::channel();
    queue
        .send(Pending {
            id,
            payload,
            reply: tx,
        })
        .await
        .map_err(|_| "the runtime emulator stopped".to_string())?;
    Ok(rx)
}

/// What the HTTP invoke endpoint needs of a [`FunctionProcess`].
#[derive(Clone)]
struct Invoker {
    queue: mpsc::Sender<Pending>,
    shared: Arc<Shared>,
    next_id: Arc<AtomicU64>,
    name: String,
}

impl Invoker {
    /// Invokes once and waits at most `timeout` for the answer, giving up early when
    /// the function failed to initialise or `exited` says why it is gone.
    async fn invoke(
        &self,
        payload: Value,
        timeout: Duration,
        mut exited: impl FnMut() -> Option<String>,
    ) -> Result<Reply, String> {
        let mut rx = enqueue(&self.queue, &self.next_id, payload).await?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            tokio::select! {
                reply = &mut rx => return reply.map_err(|_| "the invocation was dropped".to_string()),
                _ = tokio::time::sleep(Duration::from_millis(50)) => {
                    if let Some(err) = self.shared.init_error.lock().unwrap().clone() {
                        return Err(format!("{} failed to initialise: {err}", self.name));
                    }
                    if let Some(why) = exited() {
                        return Err(format!("{} {why}", self.name));
                    }
                    if tokio::time::Instant::now() > deadline {
                        return Err(format!("{} did not answer within {timeout:?}", self.name));
                    }
                }
            }
        }
    }
}

/// One request to the HTTP invoke endpoint: the payload POSTed, the function's answer.
async fn invoke_endpoint(request: Received, invoker: Invoker) -> Response<Body> {
    let unhandled = || vec![("x-amz-function-error", "Unhandled".to_string())];
    if request.method != Method::POST {
        return http::respond(
            405,
            &[],
            json!({"errorMessage": "POST the payload"}).to_string(),
        );
    }
    let payload = match serde_json::from_slice::<Value>(&request.body) {
        Ok(payload) => payload,
        Err(e) => {
            let error = json!({"errorType": "InvalidRequestContentException", "errorMessage": format!("payload is not JSON: {e}")});
            return http::respond(200, &unhandled(), error.to_string());
        }
    };
    let answer = invoker
        .invoke(payload, Duration::from_secs(900), || {
            // No child handle here: an exit is seen through the closed stdout.
            let gone = invoker.shared.exited.load(Ordering::SeqCst);
            gone.then(|| "exited".to_string())
        })
        .await;
    match answer {
        Ok(Reply::Ok(value)) => http::respond(200, &[], value.to_string()),
        Ok(Reply::Error {
            error_type,
            error_message,
        }) => http::respond(
            200,
            &unhandled(),
            json!({"errorType": error_type, "errorMessage": error_message}).to_string(),
        ),
        Err(e) => http::respond(
            502,
            &unhandled(),
            json!({"errorType": "Runtime.ExitError", "errorMessage": e}).to_string(),
        ),
    }
}

/// The first run of 12 digits in `key_id` (how the local world names the account).
fn account_in(key_id: &str) -> Option<&str> {
    let bytes = key_id.as_bytes();
    (0..bytes.len().saturating_sub(11))
        .find(|&i| bytes[i..i + 12].iter().all(u8::is_ascii_digit))
        .map(|i| &key_id[i..i + 12])
}

fn env_value<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
    env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The Runtime API one function process talks to.
#[derive(Clone)]
struct Runtime {
    queue: Arc<tokio::sync::Mutex<mpsc::Receiver<Pending>>>,
    shared: Arc<Shared>,
    arn: Arc<String>,
}

impl Runtime {
    async fn answer(self, request: Received) -> Response<Body> {
        const INVOCATION: &str = "/2018-06-01/runtime/invocation/";
        let accepted = || http::respond(202, &[], json!({"status": "OK"}).to_string());
        let path = request.path.as_str();
        match (request.method.as_str(), path) {
            ("GET", "/2018-06-01/runtime/invocation/next") => {
                let _ = self.shared.first_next.set(std::time::Instant::now());
                let next = self.queue.lock().await.recv().await;
                let Some(pending) = next else {
                    return http::respond(
                        500,
                        &[],
                        json!({"errorMessage": "the emulator stopped"}).to_string(),
                    );
                };
                let deadline = chrono::Utc::now().timestamp_millis() + 300_000;
                let headers = [
                    ("lambda-runtime-aws-request-id", pending.id.clone()),
                    ("lambda-runtime-deadline-ms", deadline.to_string()),
                    ("lambda-runtime-invoked-function-arn", self.arn.to_string()),
                    (
                        "lambda-runtime-trace-id",
                        "Root=1-00000000-000000000000000000000000;Sampled=0".to_string(),
                    ),
                ];
                let body = pending.payload.to_string();
                self.shared
                    .in_flight
                    .lock()
                    .unwrap()
                    .insert(pending.id, pending.reply);
                http::respond(200, &headers, body)
            }
            ("POST", p) if p.starts_with(INVOCATION) => {
                let rest = &p[INVOCATION.len()..];
                let (id, kind) = rest.split_once('/').unwrap_or((rest, ""));
                let value: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
                let reply = if kind == "response" {
                    Reply::Ok(value)
                } else {
                    Reply::Error {
                        error_type: value["errorType"].as_str().unwrap_or("Unknown").to_string(),
                        error_message: value["errorMessage"].as_str().unwrap_or("").to_string(),
                    }
                };
                if let Some(tx) = self.shared.in_flight.lock().unwrap().remove(id) {
                    let _ = tx.send(reply);
                }
                accepted()
            }
            ("POST", "/2018-06-01/runtime/init/error") => {
                let value: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
                *self.shared.init_error.lock().unwrap() = Some(format!(
                    "{}: {}",
                    value["errorType"].as_str().unwrap_or("Unknown"),
                    value["errorMessage"].as_str().unwrap_or("")
                ));
                accepted()
            }
            (method, _) => http::respond(
                404,
                &[],
                json!({"errorMessage": format!("no route {method} {path}")}).to_string(),
            ),
        }
    }
}
