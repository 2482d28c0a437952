//! One keep-alive HTTP/1.1 connection to the Runtime API, opened again when it breaks.

use std::time::Duration;

use bytes::Bytes;
use http::header::HOST;
use http::{HeaderValue, Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::Error;
use crate::config::RuntimeApi;

/// Request bodies: sent whole (reports), or, with `streaming`, as a streamed response hands
/// them over. Without the feature the buffered path is exactly `Full`, with no branch added.
#[cfg(not(feature = "streaming"))]
pub(crate) type Body = Full<Bytes>;
#[cfg(feature = "streaming")]
pub(crate) type Body = http_body_util::Either<Full<Bytes>, super::endpoints::StreamedBody>;

/// A body sent whole.
#[cfg(not(feature = "streaming"))]
pub(crate) fn full(bytes: Bytes) -> Body {
    Full::new(bytes)
}

/// A body sent whole.
#[cfg(feature = "streaming")]
pub(crate) fn full(bytes: Bytes) -> Body {
    http_body_util::Either::Left(Full::new(bytes))
}

/// Pauses between attempts to open the connection. The Runtime API is on the same host, so a
/// refused connection means it is not up yet or is gone: give it under a second in total.
const CONNECT_BACKOFF: [Duration; 4] = [
    Duration::ZERO,
    Duration::from_millis(20),
    Duration::from_millis(100),
    Duration::from_millis(500),
];

/// The runtime's connection to the Runtime API.
#[derive(Debug)]
pub(crate) struct Client {
    authority: String,
    host: HeaderValue,
    connection: Option<Connection>,
}

/// An open connection: the handle requests go through and the task that drives the socket.
#[derive(Debug)]
struct Connection {
    sender: SendRequest<Body>,
    driver: JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        // The driver task belongs to this connection; it must not outlive it.
        self.driver.abort();
    }
}

impl Client {
    pub(crate) fn new(api: &RuntimeApi) -> Result<Self, Error> {
        let host = HeaderValue::from_str(&api.authority).map_err(|source| {
            Error::config(
                crate::config::RUNTIME_API_VAR,
                format!(
                    "has a host that is not a valid `Host` header: `{}`",
                    api.authority
                ),
            )
            .with_source(source)
        })?;
        Ok(Self {
            authority: api.authority.clone(),
            host,
            connection: None,
        })
    }

    /// Opens the connection now, so that an unreachable Runtime API fails start-up.
    pub(crate) async fn connect(&mut self) -> Result<(), Error> {
        if self.connection.is_none() {
            self.connection = Some(self.open().await?);
        }
        Ok(())
    }

    /// Sends `request`, on a new connection when the old one is broken.
    ///
    /// A request is sent again only when hyper hands it back unsent, so nothing is ever
    /// delivered twice.
    pub(crate) async fn send(
        &mut self,
        mut request: Request<Body>,
    ) -> Result<Response<Incoming>, Error> {
        request.headers_mut().insert(HOST, self.host.clone());
        loop {
            let connection = match &mut self.connection {
                Some(connection) => connection,
                None => self.connection.insert(self.open().await?),
            };
            if connection.sender.ready().await.is_err() {
                // Closed while idle, before this request: open another.
                self.connection = None;
                continue;
            }
            match connection.sender.try_send_request(request).await {
                Ok(response) => return Ok(response),
                Err(mut error) => {
                    self.connection = None;
                    match error.take_message() {
                        Some(unsent) => request = unsent,
                        None => return Err(Error::connect(&self.authority, error.into_error())),
                    }
                }
            }
        }
    }

    /// Forgets the connection after a failure that left it in an unknown state.
    pub(crate) fn reset(&mut self) {
        self.connection = None;
    }

    async fn open(&self) -> Result<Connection, Error> {
        let mut attempt = 0;
        loop {
            let pause = CONNECT_BACKOFF[attempt];
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            match self.try_open().await {
                Ok(connection) => return Ok(connection),
                Err(error) if attempt + 1 < CONNECT_BACKOFF.len() => {
                    tracing::debug!(address = %self.authority, %error, "cannot connect to the Runtime API yet");
                    attempt += 1;
                }
                Err(error) => return Err(Error::connect(&self.authority, error)),
            }
        }
    }

    async fn try_open(&self) -> Result<Connection, Box<dyn std::error::Error + Send + Sync>> {
        let stream = TcpStream::connect(self.authority.as_str()).await?;
        // Requests and responses are small and latency-bound: never wait to coalesce them.
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        let driver = tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "Runtime API connection closed");
            }
        });
        Ok(Connection { sender, driver })
    }
}
