//! A Lambda Runtime API emulator: runs a real `bootstrap` binary as a child
//! process and feeds it events over the Runtime API on loopback, the way Lambda
//! does. Replies go out in one write with TCP_NODELAY, so no event waits on Nagle.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
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
}

/// One function process under the emulator.
pub struct FunctionProcess {
    child: tokio::process::Child,
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
        tokio::spawn(serve(
            listener,
            Arc::new(tokio::sync::Mutex::new(rx)),
            shared.clone(),
            arn,
        ));

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
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                stream.set_nodelay(true).ok();
                tokio::spawn(serve_invoke(stream, invoker.clone()));
            }
        });
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

/// One request to the HTTP invoke endpoint (the local AWS world closes each connection).
async fn serve_invoke(stream: TcpStream, invoker: Invoker) {
    let mut reader = BufReader::new(stream);
    let Some((request_line, body)) = read_request(&mut reader).await else {
        return;
    };
    let response = if !request_line.starts_with("POST ") {
        http(
            405,
            "",
            &json!({"errorMessage": "POST the payload"}).to_string(),
        )
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Err(e) => http(
                200,
                "X-Amz-Function-Error: Unhandled\r\n",
                &json!({"errorType": "InvalidRequestContentException", "errorMessage": format!("payload is not JSON: {e}")}).to_string(),
            ),
            Ok(payload) => match invoker
                .invoke(payload, Duration::from_secs(900), || {
                    // No child handle here: an exit is seen through the closed stdout.
                    let gone = invoker.shared.exited.load(Ordering::SeqCst);
                    gone.then(|| "exited".to_string())
                })
                .await
            {
                Ok(Reply::Ok(value)) => http(200, "", &value.to_string()),
                Ok(Reply::Error {
                    error_type,
                    error_message,
                }) => http(
                    200,
                    "X-Amz-Function-Error: Unhandled\r\n",
                    &json!({"errorType": error_type, "errorMessage": error_message}).to_string(),
                ),
                Err(e) => http(
                    502,
                    "X-Amz-Function-Error: Unhandled\r\n",
                    &json!({"errorType": "Runtime.ExitError", "errorMessage": e}).to_string(),
                ),
            },
        }
    };
    let _ = reader.get_mut().write_all(response.as_bytes()).await;
    let _ = reader.get_mut().shutdown().await;
}

/// Reads one HTTP/1.1 request: its request line and its body (by Content-Length).
/// None when the peer closed the connection.
async fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, Vec<u8>)> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).await.unwrap_or(0) == 0 {
        return None;
    }
    let mut content_length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).await.unwrap_or(0) == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                content_length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; content_length];
    reader.read_exact(&mut body).await.ok()?;
    Some((request_line, body))
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

async fn serve(
    listener: TcpListener,
    queue: Arc<tokio::sync::Mutex<mpsc::Receiver<Pending>>>,
    shared: Arc<Shared>,
    arn: String,
) {
    while let Ok((stream, _)) = listener.accept().await {
        stream.set_nodelay(true).ok();
        tokio::spawn(connection(
            stream,
            queue.clone(),
            shared.clone(),
            arn.clone(),
        ));
    }
}

/// Serves one keep-alive connection from the runtime client.
async fn connection(
    stream: TcpStream,
    queue: Arc<tokio::sync::Mutex<mpsc::Receiver<Pending>>>,
    shared: Arc<Shared>,
    arn: String,
) {
    let mut reader = BufReader::new(stream);
    loop {
        let Some((request_line, body)) = read_request(&mut reader).await else {
            return;
        };
        let mut parts = request_line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let response = match (method, path) {
            ("GET", "/2018-06-01/runtime/invocation/next") => {
                let next = queue.lock().await.recv().await;
                let Some(pending) = next else { return };
                let body = pending.payload.to_string();
                let deadline = chrono::Utc::now().timestamp_millis() + 300_000;
                let headers = format!(
                    "Lambda-Runtime-Aws-Request-Id: {}\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\n\
                     Lambda-Runtime-Invoked-Function-Arn: {arn}\r\nLambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000;Sampled=0\r\n",
                    pending.id
                );
                shared
                    .in_flight
                    .lock()
                    .unwrap()
                    .insert(pending.id, pending.reply);
                http(200, &headers, &body)
            }
            ("POST", p) if p.starts_with("/2018-06-01/runtime/invocation/") => {
                let rest = &p["/2018-06-01/runtime/invocation/".len()..];
                let (id, kind) = rest.split_once('/').unwrap_or((rest, ""));
                let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let reply = if kind == "response" {
                    Reply::Ok(value)
                } else {
                    Reply::Error {
                        error_type: value["errorType"].as_str().unwrap_or("Unknown").to_string(),
                        error_message: value["errorMessage"].as_str().unwrap_or("").to_string(),
                    }
                };
                if let Some(tx) = shared.in_flight.lock().unwrap().remove(id) {
                    let _ = tx.send(reply);
                }
                http(202, "", &json!({"status": "OK"}).to_string())
            }
            ("POST", "/2018-06-01/runtime/init/error") => {
                let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                *shared.init_error.lock().unwrap() = Some(format!(
                    "{}: {}",
                    value["errorType"].as_str().unwrap_or("Unknown"),
                    value["errorMessage"].as_str().unwrap_or("")
                ));
                http(202, "", &json!({"status": "OK"}).to_string())
            }
            _ => http(
                404,
                "",
                &json!({"errorMessage": format!("no route {method} {path}")}).to_string(),
            ),
        };
        if reader
            .get_mut()
            .write_all(response.as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}

fn http(status: u16, extra_headers: &str, body: &str) -> String {
    let reason = match status {
        200 => "OK",
        202 => "Accepted",
        405 => "Method Not Allowed",
        502 => "Bad Gateway",
        _ => "Not Found",
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra_headers}\r\n{body}",
        body.len()
    )
}
