//! The harness's HTTP on loopback, hyper's HTTP/1.1 both ways, TCP_NODELAY so nothing
//! waits on Nagle: its servers (the Runtime API emulator, the invoke endpoints the local
//! world forwards Lambda `Invoke` to, the tests' stand-ins) and its one-request client
//! ([`send`]: the local world's admin API, signed function-URL calls).

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use tokio::net::{TcpListener, TcpStream};

/// A response body: the whole of it at once.
pub type Body = Full<Bytes>;

/// One request as the handlers read it: method, path and the whole body.
pub struct Received {
    pub method: hyper::Method,
    pub path: String,
    pub body: Bytes,
}

/// A JSON response with `status` and extra `headers`.
pub fn respond(status: u16, headers: &[(&str, String)], body: impl Into<Bytes>) -> Response<Body> {
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    builder
        .body(Full::new(body.into()))
        .expect("a status and header names the harness writes are valid")
}

/// Serves every connection `listener` accepts with `handler` until the task is dropped.
pub async fn serve<H, F>(listener: TcpListener, handler: H)
where
    H: Fn(Received) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    while let Ok((stream, _)) = listener.accept().await {
        stream.set_nodelay(true).ok();
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let handler = handler.clone();
                async move {
                    let (parts, body) = request.into_parts();
                    let body = body
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let received = Received {
                        method: parts.method,
                        path: parts.uri.path().to_string(),
                        body,
                    };
                    Ok::<_, Infallible>(handler(received).await)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Sends `request` on a connection of its own to `host_port`: the answer's status and body.
pub async fn send(host_port: &str, request: Request<Body>) -> Result<(u16, Bytes), String> {
    let stream = TcpStream::connect(host_port)
        .await
        .map_err(|e| e.to_string())?;
    stream.set_nodelay(true).ok();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    // Drives the connection; it ends when the peer closes it.
    tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, body))
}
