//! One keep-alive HTTP/1.1 connection to the Runtime API, opened again when it breaks.
//!
//! Not hyper (the house style's default for this module), for cost: the Runtime API is a
//! handful of requests on one connection that the runtime uses strictly one exchange at a
//! time, and hyper's general client (a `HeaderMap` per answer, request encoding through its
//! generic machinery, a connection task to hand each request to) was most of the runtime's
//! instructions per invocation (BENCHMARKS.md). This client writes each request head with one
//! `write` and parses the answer in place: header values are slices of the buffer the answer
//! was read into, and so is the body when it arrived whole. Dropping hyper also takes it out
//! of the default build.
//!
//! What it speaks is what the Runtime API and our own emulator send: `Content-Length` and
//! chunked bodies (and, for robustness, a body that ends with the connection), header names in
//! any case, messages split over any number of reads. No pipelining: one request is answered
//! before the next is written. Nothing runs in the background: the connection is read only
//! while an answer is awaited, so there is no task to own.

use std::fmt;
use std::future::poll_fn;
use std::task::Poll;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Error;
use crate::config::RuntimeApi;

/// The largest answer head (status line and headers) read before giving up. Lambda's heads are
/// well under 10 KiB (the client context and Cognito identity headers being the largest); a
/// server that sends more is not the Runtime API.
const MAX_HEAD: usize = 64 * 1024;

/// The largest body read without a `Content-Length` (chunked, or ended by closing). A declared
/// length is trusted, as it is read only as fast as it arrives; this bounds what a server that
/// never ends a body can make the runtime hold. Lambda's events are at most 6 MB.
const MAX_UNDECLARED_BODY: usize = 64 * 1024 * 1024;

/// How much room a new read buffer has.
const READ_SIZE: usize = 8 * 1024;

/// The least room a read is given: below it, the buffer grows by [`READ_SIZE`]. The bytes of
/// an answer are split off the buffer and handed on (header values, the event), which leaves
/// the rest of its allocation to the next answers: a new one is made every few invocations
/// instead of for every read.
const MIN_READ: usize = 2 * 1024;

/// The most a body read reserves at once ahead of its bytes arriving, so that a hostile
/// `Content-Length` makes the runtime hold only what was really sent.
const RESERVE_STEP: usize = 8 * 1024 * 1024;

/// Bodies up to this size are copied behind the request head and sent with it in one write;
/// larger ones are written as they are, after the head.
const COALESCE: usize = 16 * 1024;

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
    connection: Option<Connection>,
    /// The request being written, kept to reuse its allocation.
    out: Vec<u8>,
}

/// An open connection and what has been read from it and not yet consumed.
#[derive(Debug)]
struct Connection {
    stream: TcpStream,
    read: BytesMut,
}

/// A request to send: its method, its path in pieces (written one after another, so a path
/// made of a prefix, a request id and a verb needs no allocation), and extra headers. `Host`
/// and the body's framing are added by the client.
#[derive(Debug)]
pub(crate) struct Request<'a> {
    pub(crate) method: &'static str,
    pub(crate) path: &'a [&'a str],
    pub(crate) headers: &'a [(&'static str, &'a [u8])],
}

/// The head of an answer: its status and its header lines, kept as they were read.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) status: u16,
    /// The header lines, each ending in a line feed; checked when the head was parsed.
    fields: Bytes,
    /// Where parsing found the first lines' ends and colons.
    index: LineIndex,
    framing: Framing,
    /// The server closes the connection after this answer.
    close: bool,
}

/// How many header lines a head keeps the shape of: more than a `/next` answer has (the
/// invocation's seven headers, `Content-Type`, `Content-Length` and `Date`).
const INDEXED_LINES: usize = 16;

/// The length (with its line feed) and colon offset of each of a head's first header lines,
/// as parsing found them, so that reading the fields searches for neither again: two `memchr`
/// calls a line, about 800 instructions an invocation (BENCHMARKS.md). Lines after the first
/// [`INDEXED_LINES`], or longer than a `u16` counts, are searched for when read.
#[derive(Debug, Clone, Copy, Default)]
struct LineIndex {
    lines: [(u16, u16); INDEXED_LINES],
    len: u8,
    /// A line could not be indexed: no later one is.
    full: bool,
}

impl LineIndex {
    /// Adds the next line, if there is room and its figures fit.
    fn push(&mut self, length: usize, colon: usize) {
        match (u16::try_from(length), u16::try_from(colon)) {
            (Ok(length), Ok(colon)) if !self.full && usize::from(self.len) < INDEXED_LINES => {
                self.lines[usize::from(self.len)] = (length, colon);
                self.len += 1;
            }
            _ => self.full = true,
        }
    }

    fn lines(&self) -> &[(u16, u16)] {
        &self.lines[..usize::from(self.len)]
    }
}

/// How an answer's body is delimited (RFC 9112, 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// Why an answer could not be understood: it is not the HTTP/1.1 this client reads.
#[derive(Debug)]
pub(crate) struct Malformed(String);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Malformed {}

fn malformed(what: impl Into<String>) -> Malformed {
    Malformed(what.into())
}

/// The connection ended before the answer did.
fn closed_early(what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        format!("the connection closed {what}"),
    )
}

impl Client {
    pub(crate) fn new(api: &RuntimeApi) -> Result<Self, Error> {
        // Written into every request's `Host` header: it must not be able to end the line.
        if !api.authority.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err(Error::config(
                crate::config::RUNTIME_API_VAR,
                format!(
                    "has a host that is not a valid `Host` header: `{}`",
                    api.authority
                ),
            ));
        }
        Ok(Self {
            authority: api.authority.clone(),
            connection: None,
            out: Vec::with_capacity(512),
        })
    }

    /// Opens the connection now, so that an unreachable Runtime API fails start-up.
    pub(crate) async fn connect(&mut self) -> Result<(), Error> {
        if self.connection.is_none() {
            self.connection = Some(self.open().await?);
        }
        Ok(())
    }

    /// Forgets the connection after a failure that left it in an unknown state.
    pub(crate) fn reset(&mut self) {
        self.connection = None;
    }

    /// Sends `request` with `body` and reads the head of the answer. Read its body with
    /// [`body`](Self::body) before sending anything else.
    ///
    /// A request is written only on a connection that was not seen closed, so nothing is
    /// delivered twice; a connection that breaks after the request was written is a
    /// [connect](Error::is_connect) error, and the caller decides whether to ask again.
    ///
    /// # Errors
    ///
    /// A connect error when the connection breaks; a protocol error when the answer is not
    /// HTTP/1.1 (the connection is dropped then).
    pub(crate) async fn send(&mut self, request: &Request<'_>, body: &[u8]) -> Result<Head, Error> {
        self.out.clear();
        write_head(&mut self.out, request, &self.authority, Some(body.len()));
        let inline = body.len() <= COALESCE;
        if inline && !body.is_empty() {
            self.out.extend_from_slice(body);
        }
        self.write_request(None, (!inline).then_some(body)).await?;
        self.head().await
    }

    /// [`send`](Self::send) of a request without a body that was written whole beforehand
    /// with [`write_head`] (for this client's host): sent from where it is, with no copy. The
    /// poll loop's `/next` is the same request every time; written afresh, its pieces cost
    /// about 100 instructions an invocation on musl (BENCHMARKS.md, "Static or glibc").
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub(crate) async fn send_written(&mut self, request: &[u8]) -> Result<Head, Error> {
        self.write_request(Some(request), None).await?;
        self.head().await
    }

    /// Reads the body of the answer whose head is `head`. Afterwards the connection is ready
    /// for the next request, or dropped when the server closes it.
    ///
    /// # Errors
    ///
    /// A connect error when the connection ends before the body does, a protocol error when
    /// the body's framing is malformed; the connection is dropped in both cases.
    pub(crate) async fn body(&mut self, head: &Head) -> Result<Bytes, Error> {
        let Some(connection) = &mut self.connection else {
            return Err(Error::connect(
                &self.authority,
                closed_early("before the body was read"),
            ));
        };
        let read = match head.framing {
            Framing::Empty => Ok(Bytes::new()),
            Framing::Length(length) => connection.read_exact_body(length).await,
            Framing::Chunked => connection.read_chunked_body().await,
            Framing::UntilClose => connection.read_to_close().await,
        };
        match read {
            Ok(body) => {
                if head.close || head.framing == Framing::UntilClose {
                    self.connection = None;
                }
                Ok(body)
            }
            Err(BodyError::Io(error)) => Err(self.broken(error)),
            Err(BodyError::Malformed(problem)) => Err(self.malformed(problem)),
        }
    }

    /// The connection, opened when there is none or when the server closed it while idle.
    async fn make_usable(&mut self) -> Result<(), Error> {
        if let Some(connection) = &mut self.connection
            && connection.closed_while_idle().await
        {
            self.connection = None;
        }
        if self.connection.is_none() {
            self.connection = Some(self.open().await?);
        }
        Ok(())
    }

    /// Writes `written`, or else the request in `out`, then `body` unless it is `None`, on a
    /// usable connection.
    async fn write_request(
        &mut self,
        written: Option<&[u8]>,
        body: Option<&[u8]>,
    ) -> Result<(), Error> {
        self.make_usable().await?;
        let Some(connection) = &mut self.connection else {
            return Err(Error::connect(
                &self.authority,
                closed_early("as it opened"),
            ));
        };
        let head = written.unwrap_or(&self.out);
        let mut written = connection.stream.write_all(head).await;
        if let (Ok(()), Some(body)) = (&written, body) {
            written = connection.stream.write_all(body).await;
        }
        written.map_err(|error| self.broken(error))
    }

    /// Reads the head of the answer to the request just written, skipping interim (1xx) heads.
    async fn head(&mut self) -> Result<Head, Error> {
        loop {
            let Some(connection) = &mut self.connection else {
                return Err(Error::connect(
                    &self.authority,
                    closed_early("before the answer"),
                ));
            };
            // Where the search for the head's end goes on, once a look found it incomplete: a
            // head that arrives a few bytes at a time is parsed once it is whole, not again
            // after every read.
            let mut searched = None;
            let parsed = loop {
                // The first look at what was read parses it, so that an answer that is not
                // HTTP fails at once, and one that came whole (the usual case) is read once.
                let look = match searched {
                    None => !connection.read.is_empty(),
                    Some(from) => head_ends(&connection.read, from),
                };
                if look {
                    match parse_head(&connection.read) {
                        Ok(Some(parsed)) => break parsed,
                        Ok(None) => {}
                        Err(problem) => return Err(self.malformed(problem)),
                    }
                }
                if connection.read.len() > MAX_HEAD {
                    return Err(self.malformed(malformed(format!(
                        "the answer's head is over {MAX_HEAD} bytes"
                    ))));
                }
                if !connection.read.is_empty() {
                    // The line feed ending a line may be the last or next-to-last byte read.
                    searched = Some(connection.read.len().saturating_sub(2));
                }
                match connection.fill().await {
                    Ok(0) => {
                        let error = closed_early("before the answer");
                        return Err(self.broken(error));
                    }
                    Ok(_) => {}
                    Err(error) => return Err(self.broken(error)),
                }
            };
            let (length, head) = parsed;
            let head_bytes = connection.read.split_to(length).freeze();
            match head {
                // 100 Continue and its kin: the real answer follows.
                ParsedHead::Interim => continue,
                ParsedHead::Final {
                    status,
                    fields,
                    index,
                    framing,
                    close,
                } => {
                    return Ok(Head {
                        status,
                        fields: head_bytes.slice(fields),
                        index,
                        framing,
                        close,
                    });
                }
            }
        }
    }

    fn broken(&mut self, error: std::io::Error) -> Error {
        self.connection = None;
        Error::connect(&self.authority, error)
    }

    fn malformed(&mut self, problem: Malformed) -> Error {
        self.connection = None;
        Error::protocol("the answer is not valid HTTP/1.1").with_source(problem)
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

    async fn try_open(&self) -> std::io::Result<Connection> {
        let stream = TcpStream::connect(self.authority.as_str()).await?;
        // Requests and responses are small and latency-bound: never wait to coalesce them.
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            read: BytesMut::with_capacity(READ_SIZE),
        })
    }
}

/// Writing a request whose body is sent in chunks as it is produced (`streaming`).
#[cfg(feature = "streaming")]
impl Client {
    /// Writes the head of a chunked request; the body follows with
    /// [`write_chunk`](Self::write_chunk) and [`finish_chunks`](Self::finish_chunks).
    pub(crate) async fn send_chunked_head(&mut self, request: &Request<'_>) -> Result<(), Error> {
        self.out.clear();
        write_head(&mut self.out, request, &self.authority, None);
        self.write_request(None, None).await
    }

    /// Writes one chunk of the body, unless the server answers first: then returns `false`,
    /// and the answer is read with [`answer`](Self::answer).
    pub(crate) async fn write_chunk(&mut self, chunk: &[u8]) -> Result<bool, Error> {
        use std::io::Write as _;

        if chunk.is_empty() {
            // An empty chunk would end the body.
            return Ok(true);
        }
        self.out.clear();
        // Writing into a `Vec` cannot fail.
        let _ = write!(self.out, "{:x}\r\n", chunk.len());
        let inline = chunk.len() <= COALESCE;
        if inline {
            self.out.extend_from_slice(chunk);
            self.out.extend_from_slice(b"\r\n");
        }
        let written = {
            let Some(connection) = &mut self.connection else {
                return Err(Error::connect(
                    &self.authority,
                    closed_early("while the body was sent"),
                ));
            };
            let out = &self.out;
            let (mut reader, mut writer) = connection.stream.split();
            let read = &mut connection.read;
            let write = async {
                writer.write_all(out).await?;
                if !inline {
                    writer.write_all(chunk).await?;
                    writer.write_all(b"\r\n").await?;
                }
                Ok::<_, std::io::Error>(true)
            };
            tokio::select! {
                biased;
                // An answer before the body ended: the rest has nowhere to go. What was read
                // stays in the buffer for `answer`.
                answered = reserve_and_read(&mut reader, read) => answered.map(|_| false),
                written = write => written,
            }
        };
        written.map_err(|error| self.broken(error))
    }

    /// Waits for the server to answer (or close) while the body is not finished; what it
    /// reads stays in the buffer for [`answer`](Self::answer). Cancel-safe.
    pub(crate) async fn answered(&mut self) -> Result<(), Error> {
        let Some(connection) = &mut self.connection else {
            return Ok(());
        };
        match connection.fill().await {
            Ok(_) => Ok(()),
            Err(error) => Err(self.broken(error)),
        }
    }

    /// Ends the body with the last chunk and `trailers`, and reads the answer's head.
    pub(crate) async fn finish_chunks(
        &mut self,
        trailers: &[(&'static str, &[u8])],
    ) -> Result<Head, Error> {
        self.out.clear();
        self.out.extend_from_slice(b"0\r\n");
        for (name, value) in trailers {
            push_field(&mut self.out, name, value);
        }
        self.out.extend_from_slice(b"\r\n");
        let Some(connection) = &mut self.connection else {
            return Err(Error::connect(
                &self.authority,
                closed_early("while the body was sent"),
            ));
        };
        if let Err(error) = connection.stream.write_all(&self.out).await {
            return Err(self.broken(error));
        }
        self.head().await
    }

    /// Reads the head of an answer that came before the request's body ended. The connection
    /// cannot carry another request after it, and is dropped once the body is read.
    pub(crate) async fn early_answer(&mut self) -> Result<Head, Error> {
        let mut head = self.head().await?;
        head.close = true;
        Ok(head)
    }
}

#[cfg(feature = "streaming")]
async fn reserve_and_read(
    reader: &mut tokio::net::tcp::ReadHalf<'_>,
    read: &mut BytesMut,
) -> std::io::Result<usize> {
    make_room(read);
    reader.read_buf(read).await
}

/// Makes sure a read has at least [`MIN_READ`] bytes of room.
fn make_room(read: &mut BytesMut) {
    if read.capacity() - read.len() < MIN_READ {
        read.reserve(READ_SIZE);
    }
}

impl Connection {
    /// Reads once more into the buffer; `Ok(0)` is the end of the stream. Cancel-safe: what
    /// was read is in the buffer.
    async fn fill(&mut self) -> std::io::Result<usize> {
        make_room(&mut self.read);
        self.stream.read_buf(&mut self.read).await
    }

    /// Whether the server closed the connection (or sent something unasked) while it was
    /// idle. Costs nothing when the socket has not become readable since the last answer.
    async fn closed_while_idle(&mut self) -> bool {
        if !self.read.is_empty() {
            tracing::debug!("the Runtime API sent bytes nobody asked for; reconnecting");
            return true;
        }
        let readable = poll_fn(|cx| Poll::Ready(self.stream.poll_read_ready(cx).is_ready())).await;
        if !readable {
            return false;
        }
        // With no room, a read would return 0 and look like a close.
        make_room(&mut self.read);
        match self.stream.try_read_buf(&mut self.read) {
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => false,
            Ok(0) => {
                tracing::debug!("the Runtime API closed the idle connection; reconnecting");
                true
            }
            Ok(_) => {
                tracing::debug!("the Runtime API sent bytes nobody asked for; reconnecting");
                true
            }
            Err(error) => {
                tracing::debug!(%error, "the idle Runtime API connection broke; reconnecting");
                true
            }
        }
    }

    async fn read_exact_body(&mut self, length: u64) -> Result<Bytes, BodyError> {
        let length = usize::try_from(length)
            .map_err(|_| malformed(format!("a body of {length} bytes does not fit in memory")))?;
        while self.read.len() < length {
            let missing = length - self.read.len();
            self.read.reserve(missing.min(RESERVE_STEP));
            if self.stream.read_buf(&mut self.read).await? == 0 {
                return Err(closed_early(&format!(
                    "after {} of the body's {length} bytes",
                    self.read.len()
                ))
                .into());
            }
        }
        Ok(self.read.split_to(length).freeze())
    }

    async fn read_chunked_body(&mut self) -> Result<Bytes, BodyError> {
        // One chunk (the usual case) is kept as it was read; more are joined.
        let mut first: Option<Bytes> = None;
        let mut joined: Option<BytesMut> = None;
        let mut total: usize = 0;
        loop {
            let line = self.line(4096, "a chunk size line").await?;
            let size = chunk_size(&line)?;
            if size == 0 {
                break;
            }
            total = total.saturating_add(size);
            if total > MAX_UNDECLARED_BODY {
                return Err(malformed(format!(
                    "the chunked body is over {MAX_UNDECLARED_BODY} bytes"
                ))
                .into());
            }
            let chunk = self.read_exact_body(size as u64).await?;
            let end = self.line(2, "the end of a chunk").await?;
            if !end.is_empty() {
                return Err(malformed("a chunk is longer than its size says").into());
            }
            match (&mut joined, &first) {
                (Some(joined), _) => joined.extend_from_slice(&chunk),
                (None, None) => first = Some(chunk),
                (None, Some(previous)) => {
                    let mut buffer = BytesMut::with_capacity(previous.len() + chunk.len());
                    buffer.extend_from_slice(previous);
                    buffer.extend_from_slice(&chunk);
                    joined = Some(buffer);
                }
            }
        }
        // Trailers: read and dropped, up to the empty line.
        let mut trailers = 0;
        loop {
            let line = self.line(MAX_HEAD, "a trailer").await?;
            if line.is_empty() {
                break;
            }
            trailers += line.len();
            if trailers > MAX_HEAD {
                return Err(malformed(format!("the trailers are over {MAX_HEAD} bytes")).into());
            }
        }
        Ok(match joined {
            Some(joined) => joined.freeze(),
            None => first.unwrap_or_default(),
        })
    }

    async fn read_to_close(&mut self) -> Result<Bytes, BodyError> {
        loop {
            if self.read.len() > MAX_UNDECLARED_BODY {
                return Err(
                    malformed(format!("the body is over {MAX_UNDECLARED_BODY} bytes")).into(),
                );
            }
            if self.fill().await? == 0 {
                return Ok(self.read.split().freeze());
            }
        }
    }

    /// The next line, without its line ending; at most `limit` bytes long.
    async fn line(&mut self, limit: usize, what: &str) -> Result<Bytes, BodyError> {
        let mut searched = 0;
        loop {
            if let Some(at) = memchr::memchr(b'\n', &self.read[searched..]) {
                let mut line = self.read.split_to(searched + at + 1);
                line.truncate(line.len() - 1);
                if line.last() == Some(&b'\r') {
                    line.truncate(line.len() - 1);
                }
                return Ok(line.freeze());
            }
            searched = self.read.len();
            if searched > limit + 2 {
                return Err(malformed(format!("{what} is over {limit} bytes")).into());
            }
            if self.fill().await? == 0 {
                return Err(closed_early(&format!("in {what}")).into());
            }
        }
    }
}

/// Why a body could not be read.
#[derive(Debug)]
enum BodyError {
    Io(std::io::Error),
    Malformed(Malformed),
}

impl From<std::io::Error> for BodyError {
    fn from(error: std::io::Error) -> Self {
        Self::Io(error)
    }
}

impl From<Malformed> for BodyError {
    fn from(problem: Malformed) -> Self {
        Self::Malformed(problem)
    }
}

/// A chunk size line's size, its extensions ignored (RFC 9112, 7.1).
fn chunk_size(line: &[u8]) -> Result<usize, Malformed> {
    let digits = line
        .split(|&byte| byte == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    if digits.is_empty() || digits.len() > 15 {
        return Err(malformed(format!(
            "`{}` is not a chunk size",
            String::from_utf8_lossy(line)
        )));
    }
    digits.iter().try_fold(0_usize, |size, &digit| {
        let value = (digit as char).to_digit(16).ok_or_else(|| {
            malformed(format!(
                "`{}` is not a chunk size",
                String::from_utf8_lossy(line)
            ))
        })?;
        // Fifteen hex digits fit in a `usize` of 64 bits; on narrower ones, refuse.
        size.checked_mul(16)
            .and_then(|size| size.checked_add(value as usize))
            .ok_or_else(|| malformed("a chunk size does not fit in memory"))
    })
}

/// `METHOD path HTTP/1.1`, `Host`, the request's headers and the body's framing: a
/// `Content-Length` for a body of `length`, chunked without one.
pub(crate) fn write_head(
    out: &mut Vec<u8>,
    request: &Request<'_>,
    host: &str,
    length: Option<usize>,
) {
    // The usual methods as constants: a copy of known length is a few stores, where one of a
    // length known only when it runs is a call to `memcpy` (about 30 instructions on musl).
    match request.method {
        "GET" => out.extend_from_slice(b"GET "),
        "POST" => out.extend_from_slice(b"POST "),
        method => {
            out.extend_from_slice(method.as_bytes());
            out.push(b' ');
        }
    }
    for piece in request.path {
        out.extend_from_slice(piece.as_bytes());
    }
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in request.headers {
        push_field(out, name, value);
    }
    match length {
        // A GET without a body says nothing of one.
        Some(0) if request.method == "GET" => {}
        Some(length) => {
            out.extend_from_slice(b"Content-Length: ");
            push_decimal(out, length);
            out.extend_from_slice(b"\r\n");
        }
        None => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

fn push_field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn push_decimal(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0_u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

impl Head {
    /// The header fields, names as sent (compare them ignoring case) and values without the
    /// white space around them, each a slice of the buffer the answer was read into; keep a
    /// value with [`share`](Self::share).
    pub(crate) fn fields(&self) -> Fields<'_> {
        Fields {
            buffer: &self.fields,
            rest: 0,
            index: self.index.lines(),
        }
    }

    /// The buffer the header lines are in, which the values [`fields`](Self::fields) gives
    /// are slices of.
    pub(crate) fn buffer(&self) -> &Bytes {
        &self.fields
    }
}

/// The fields of a [`Head`], in order.
#[derive(Debug)]
pub(crate) struct Fields<'a> {
    buffer: &'a [u8],
    /// Where the next line starts.
    rest: usize,
    /// The shape of the next lines, as far as parsing kept it.
    index: &'a [(u16, u16)],
}

impl<'a> Iterator for Fields<'a> {
    type Item = (&'a [u8], &'a [u8]);

    // Inlined into each caller: read for every answer, it cost the poll loop about 140
    // instructions an invocation when the compiler kept it out of line, as it did once the
    // Extensions API's client called it too (BENCHMARKS.md, "Extensions").
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        let buffer: &'a [u8] = self.buffer;
        let remaining = &buffer[self.rest..];
        let (line, colon) = match self.index.split_first() {
            Some((&(length, colon), index)) => {
                self.index = index;
                let length = usize::from(length);
                self.rest += length;
                // The line feed is the line's last byte.
                (remaining.get(..length - 1)?, usize::from(colon))
            }
            None => {
                let end = memchr::memchr(b'\n', remaining)?;
                self.rest += end + 1;
                let line = &remaining[..end];
                // Parsing checked that every line has a colon.
                (line, memchr::memchr(b':', line)?)
            }
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        Some((line.get(..colon)?, &line[trim_range(line, colon + 1)]))
    }
}

/// The range of `line[from..]` without leading and trailing spaces and tabs.
fn trim_range(line: &[u8], from: usize) -> std::ops::Range<usize> {
    let mut start = from;
    let mut end = line.len();
    while start < end && matches!(line[start], b' ' | b'\t') {
        start += 1;
    }
    while end > start && matches!(line[end - 1], b' ' | b'\t') {
        end -= 1;
    }
    start..end
}

/// Whether `buffer` has an empty line (the end of a head) from a line feed at `from` or after.
fn head_ends(buffer: &[u8], from: usize) -> bool {
    memchr::memchr_iter(b'\n', &buffer[from.min(buffer.len())..]).any(|at| {
        let rest = &buffer[from + at + 1..];
        rest.starts_with(b"\n") || rest.starts_with(b"\r\n")
    })
}

/// A head parsed from the start of a buffer.
#[derive(Debug)]
enum ParsedHead {
    /// A 1xx answer, to be skipped.
    Interim,
    Final {
        status: u16,
        /// Where the header lines are in the head.
        fields: std::ops::Range<usize>,
        index: LineIndex,
        framing: Framing,
        close: bool,
    },
}

/// Parses the head at the start of `buffer`: `None` while it is incomplete, else its length
/// (up to and with the empty line) and what it says.
fn parse_head(buffer: &[u8]) -> Result<Option<(usize, ParsedHead)>, Malformed> {
    let Some(status_end) = memchr::memchr(b'\n', buffer) else {
        return Ok(None);
    };
    let status_line = buffer[..status_end]
        .strip_suffix(b"\r")
        .unwrap_or(&buffer[..status_end]);
    let (http10, status) = status_line_parts(status_line)?;
    let fields_start = status_end + 1;

    let mut at = fields_start;
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut transfer_encoding = false;
    let mut close = http10;
    let mut index = LineIndex::default();
    loop {
        let Some(end) = memchr::memchr(b'\n', &buffer[at..]) else {
            return Ok(None);
        };
        let line = &buffer[at..at + end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line_start = at;
        at += end + 1;
        if line.is_empty() {
            if (100..200).contains(&status) {
                if status == 101 {
                    return Err(malformed("the server switched protocols"));
                }
                return Ok(Some((at, ParsedHead::Interim)));
            }
            let framing = if matches!(status, 204 | 304) {
                Framing::Empty
            } else if transfer_encoding {
                // A body that is not chunked last ends with the connection (RFC 9112, 6.3).
                if chunked {
                    Framing::Chunked
                } else {
                    close = true;
                    Framing::UntilClose
                }
            } else {
                match length {
                    Some(0) => Framing::Empty,
                    Some(length) => Framing::Length(length),
                    None => {
                        close = true;
                        Framing::UntilClose
                    }
                }
            };
            return Ok(Some((
                at,
                ParsedHead::Final {
                    status,
                    fields: fields_start..line_start,
                    index,
                    framing,
                    close,
                },
            )));
        }
        if matches!(line[0], b' ' | b'\t') {
            return Err(malformed("a header line is folded"));
        }
        // The name's end is found by reading its characters, which checks them on the way.
        let colon = token_length(line);
        if colon == 0 || line.get(colon) != Some(&b':') {
            return Err(not_a_header_line(line));
        }
        index.push(end + 1, colon);
        let name = &line[..colon];
        // Trimmed only for the fields read here: most lines are not.
        let value = || &line[trim_range(line, colon + 1)];
        if name.eq_ignore_ascii_case(b"content-length") {
            let parsed = parse_length(value())?;
            if length.is_some_and(|length| length != parsed) {
                return Err(malformed("the answer has two different `Content-Length`s"));
            }
            length = Some(parsed);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            transfer_encoding = true;
            // Only the last coding decides; a later header line replaces what came before.
            chunked = value()
                .rsplit(|&byte| byte == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case(b"connection") {
            for option in value().split(|&byte| byte == b',') {
                let option = option.trim_ascii();
                if option.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if option.eq_ignore_ascii_case(b"keep-alive") && http10 {
                    close = false;
                }
            }
        }
    }
}

/// What is wrong with a header line whose name does not end in a colon.
#[cold]
fn not_a_header_line(line: &[u8]) -> Malformed {
    match memchr::memchr(b':', line) {
        Some(colon) => malformed(format!(
            "`{}` is not a header name",
            String::from_utf8_lossy(&line[..colon])
        )),
        None => malformed(format!(
            "`{}` is not a header line",
            String::from_utf8_lossy(line)
        )),
    }
}

/// `HTTP/1.x NNN reason`: whether it is HTTP/1.0, and the status.
fn status_line_parts(line: &[u8]) -> Result<(bool, u16), Malformed> {
    let bad = || {
        malformed(format!(
            "`{}` is not an HTTP/1.1 status line",
            String::from_utf8_lossy(line)
        ))
    };
    let http10 = match line.get(..9) {
        Some(b"HTTP/1.1 ") => false,
        Some(b"HTTP/1.0 ") => true,
        _ => return Err(bad()),
    };
    let code = line.get(9..12).ok_or_else(bad)?;
    if !code.iter().all(u8::is_ascii_digit) || !matches!(line.get(12), None | Some(b' ')) {
        return Err(bad());
    }
    let status = code
        .iter()
        .fold(0_u16, |status, digit| status * 10 + u16::from(digit - b'0'));
    if status < 100 {
        return Err(bad());
    }
    Ok((http10, status))
}

fn parse_length(value: &[u8]) -> Result<u64, Malformed> {
    let bad = || {
        malformed(format!(
            "`{}` is not a `Content-Length`",
            String::from_utf8_lossy(value)
        ))
    };
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    Ok(value
        .iter()
        .fold(0_u64, |length, digit| length * 10 + u64::from(digit - b'0')))
}

/// How many of `line`'s first bytes are [token](is_token) characters: a header name's length.
///
/// Eight bytes a step, their table loads independent of each other, and byte by byte only in
/// the step where the name ends: names are read in every answer's head, and a loop of one
/// byte a step cost the client about 900 instructions an invocation (BENCHMARKS.md).
fn token_length(line: &[u8]) -> usize {
    let mut steps = line.chunks_exact(8);
    let mut length = 0;
    for step in &mut steps {
        if !step.iter().fold(true, |all, &byte| all & is_token(byte)) {
            break;
        }
        length += 8;
    }
    length
        + line[length..]
            .iter()
            .position(|&byte| !is_token(byte))
            .unwrap_or(line.len() - length)
}

/// A character allowed in a header name (RFC 9110, 5.6.2).
fn is_token(byte: u8) -> bool {
    TOKEN[usize::from(byte)]
}

/// [`is_token`] as a table: one load per byte of every header name read.
static TOKEN: [bool; 256] = super::endpoints::ascii_set(b"!#$%&'*+-.^_`|~");

#[cfg(test)]
mod tests {
    use std::future::Future;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    const GET: Request<'static> = Request {
        method: "GET",
        path: &["/2018-06-01/runtime/invocation/next"],
        headers: &[],
    };

    fn parsed(head: &[u8]) -> (usize, ParsedHead) {
        parse_head(head)
            .expect("a valid head")
            .expect("a complete head")
    }

    fn problem(head: &[u8]) -> String {
        parse_head(head).expect_err("a malformed head").to_string()
    }

    #[test]
    fn a_head_is_incomplete_until_its_empty_line_at_every_split() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\n";
        for end in 0..head.len() {
            assert!(
                parse_head(&head[..end]).expect("a valid start").is_none(),
                "complete at {end}"
            );
        }
        let mut with_body = head.to_vec();
        with_body.extend_from_slice(b"hello");
        let (length, parsed) = parsed(&with_body);
        assert_eq!(length, head.len());
        let ParsedHead::Final {
            status,
            framing,
            close,
            ..
        } = parsed
        else {
            panic!("not a final head: {parsed:?}");
        };
        assert_eq!((status, framing, close), (200, Framing::Length(5), false));
    }

    #[test]
    fn the_end_of_a_head_is_found_from_where_the_last_search_stopped() {
        let head = b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n";
        for from in 0..=head.len() - 4 {
            assert!(head_ends(head, from), "not found from {from}");
        }
        assert!(!head_ends(head, head.len() - 1));
        assert!(!head_ends(b"HTTP/1.1 200 OK\r\nA: b\r\n", 0));
        assert!(head_ends(b"HTTP/1.1 200 OK\nA: b\n\n", 10));
    }

    #[test]
    fn framing_headers_are_read_whatever_their_case() {
        let framing = |head: &[u8]| match parsed(head).1 {
            ParsedHead::Final { framing, close, .. } => (framing, close),
            ParsedHead::Interim => panic!("interim"),
        };
        assert_eq!(
            framing(b"HTTP/1.1 200 OK\r\ncontent-LENGTH: 12\r\n\r\n"),
            (Framing::Length(12), false)
        );
        assert_eq!(
            framing(
                b"HTTP/1.1 200 OK\r\nTRANSFER-encoding: gzip, Chunked\r\nContent-Length: 3\r\n\r\n"
            ),
            (Framing::Chunked, false)
        );
        assert_eq!(
            framing(b"HTTP/1.1 202 Accepted\r\nCONNECTION: Close\r\nContent-Length: 0\r\n\r\n"),
            (Framing::Empty, true)
        );
        assert_eq!(
            framing(b"HTTP/1.1 200 OK\r\n\r\n"),
            (Framing::UntilClose, true)
        );
        assert_eq!(
            framing(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n"),
            (Framing::Length(1), true)
        );
        assert_eq!(
            framing(b"HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n"),
            (Framing::Empty, false)
        );
        // Bare line feeds are read too.
        assert_eq!(
            framing(b"HTTP/1.1 200 OK\nContent-Length: 2\n\n"),
            (Framing::Length(2), false)
        );
        assert!(matches!(
            parsed(b"HTTP/1.1 100 Continue\r\n\r\n").1,
            ParsedHead::Interim
        ));
    }

    #[test]
    fn malformed_heads_are_refused_saying_why() {
        for (head, expected) in [
            (&b"HTTP/2 200 OK\r\n\r\n"[..], "not an HTTP/1.1 status line"),
            (b"HTTP/1.1 2x0 OK\r\n\r\n", "not an HTTP/1.1 status line"),
            (b"HTTP/1.1 099 Low\r\n\r\n", "not an HTTP/1.1 status line"),
            (b"HTTP/1.1 2000 OK\r\n\r\n", "not an HTTP/1.1 status line"),
            (
                b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
                "not a header line",
            ),
            (
                b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
                "not a header name",
            ),
            (b"HTTP/1.1 200 OK\r\n: x\r\n\r\n", "not a header name"),
            (b"HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", "folded"),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                "not a `Content-Length`",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
                "not a `Content-Length`",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                "two different",
            ),
            (
                b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
                "switched protocols",
            ),
        ] {
            let found = problem(head);
            assert!(found.contains(expected), "{found} for {head:?}");
        }
    }

    #[test]
    fn fields_are_the_header_lines_trimmed() {
        let head = b"HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id:  req-1 \r\nX-Empty:\r\nX-Tab:\tv\t\r\nX-Bare-Lf: lf\n\r\n";
        assert_eq!(
            fields_of(head),
            [
                (
                    "Lambda-Runtime-Aws-Request-Id".to_owned(),
                    "req-1".to_owned()
                ),
                ("X-Empty".to_owned(), String::new()),
                ("X-Tab".to_owned(), "v".to_owned()),
                ("X-Bare-Lf".to_owned(), "lf".to_owned()),
            ]
        );
    }

    #[test]
    fn names_end_at_their_first_character_that_is_not_a_token() {
        for (line, length) in [
            (&b""[..], 0),
            (b":", 0),
            (b"Date: x", 4),
            (b"Content-Type: application/json", 12),
            (b"abcdefgh", 8),
            (b"abcdefgh:", 8),
            (b"abcdefghijklmnop: value", 16),
            (b"abcdefghi(jk: value", 9),
            (b"abc def: value", 3),
            (b"Lambda-Runtime-Aws-Request-Id:x", 29),
        ] {
            assert_eq!(
                token_length(line),
                length,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn fields_past_the_index_are_found_by_searching() {
        // More lines than the index keeps, and a line longer than it can measure.
        let long = "v".repeat(usize::from(u16::MAX) + 10);
        let mut expected: Vec<(String, String)> = (0..INDEXED_LINES + 3)
            .map(|n| (format!("X-Field-{n}"), format!("value:{n}")))
            .collect();
        expected.insert(3, ("X-Long".to_owned(), long));
        let mut head = String::from("HTTP/1.1 200 OK\r\n");
        for (name, value) in &expected {
            head.push_str(&format!("{name}: {value} \r\n"));
        }
        head.push_str("\r\n");
        assert_eq!(fields_of(head.as_bytes()), expected);

        let mut short = String::from("HTTP/1.1 200 OK\r\n");
        for (name, value) in expected.iter().filter(|(name, _)| name != "X-Long") {
            short.push_str(&format!("{name}:{value}\r\n"));
        }
        short.push_str("\r\n");
        assert_eq!(
            fields_of(short.as_bytes()),
            expected
                .into_iter()
                .filter(|(name, _)| name != "X-Long")
                .collect::<Vec<_>>()
        );
    }

    /// The fields of `head`, read as the client reads them.
    fn fields_of(head: &[u8]) -> Vec<(String, String)> {
        let (
            length,
            ParsedHead::Final {
                fields,
                index,
                framing,
                close,
                ..
            },
        ) = parsed(head)
        else {
            panic!("interim");
        };
        let bytes = Bytes::copy_from_slice(&head[..length]);
        let head = Head {
            status: 200,
            fields: bytes.slice(fields),
            index,
            framing,
            close,
        };
        head.fields()
            .map(|(name, value)| {
                let value = head.buffer().slice_ref(value);
                (
                    String::from_utf8(name.to_vec()).unwrap(),
                    String::from_utf8(value.to_vec()).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn chunk_sizes_are_hexadecimal_with_extensions_ignored() {
        assert_eq!(chunk_size(b"1a").unwrap(), 26);
        assert_eq!(chunk_size(b"1A;name=value").unwrap(), 26);
        assert_eq!(chunk_size(b"0").unwrap(), 0);
        for bad in [&b""[..], b"zz", b"-1", b"1 2", b"1000000000000000"] {
            assert!(chunk_size(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn request_heads_carry_the_host_and_the_framing() {
        let mut out = Vec::new();
        write_head(&mut out, &GET, "127.0.0.1:9001", Some(0));
        assert_eq!(
            out,
            b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: 127.0.0.1:9001\r\n\r\n"
        );
        out.clear();
        let post = Request {
            method: "POST",
            path: &["/2018-06-01/runtime/invocation/", "req-1", "/error"],
            headers: &[("Content-Type", b"application/json")],
        };
        write_head(&mut out, &post, "h:1", Some(1234));
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "POST /2018-06-01/runtime/invocation/req-1/error HTTP/1.1\r\nHost: h:1\r\n\
             Content-Type: application/json\r\nContent-Length: 1234\r\n\r\n"
        );
        out.clear();
        write_head(&mut out, &post, "h:1", None);
        assert!(
            String::from_utf8(out)
                .unwrap()
                .ends_with("Transfer-Encoding: chunked\r\n\r\n")
        );
    }

    /// A client of a server on a fresh loopback port that `script` plays, and the script's
    /// task (join it to see its assertions).
    async fn scripted<S, F>(script: S) -> (Client, tokio::task::JoinHandle<F::Output>)
    where
        S: FnOnce(TcpListener) -> F,
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = RuntimeApi {
            authority: listener.local_addr().unwrap().to_string(),
            base_path: "/2018-06-01".to_owned(),
            prefix: String::new(),
        };
        let server = tokio::spawn(script(listener));
        (Client::new(&api).unwrap(), server)
    }

    /// Reads one request: its head, and its body by `Content-Length`.
    async fn read_request(stream: &mut TcpStream) -> (String, Vec<u8>) {
        let mut buffer = Vec::new();
        let end = loop {
            if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
                break end + 4;
            }
            let mut chunk = [0; 4096];
            let read = stream.read(&mut chunk).await.unwrap();
            assert_ne!(read, 0, "the client closed the connection");
            buffer.extend_from_slice(&chunk[..read]);
        };
        let head = String::from_utf8(buffer[..end].to_vec()).unwrap();
        let length = head
            .lines()
            .find_map(|line| line.strip_prefix("Content-Length: "))
            .map_or(0, |length| length.parse().unwrap());
        let mut body = buffer[end..].to_vec();
        while body.len() < length {
            let mut chunk = vec![0; 64 * 1024];
            let read = stream.read(&mut chunk).await.unwrap();
            assert_ne!(read, 0, "the client closed the connection mid-body");
            body.extend_from_slice(&chunk[..read]);
        }
        (head, body)
    }

    /// Writes `pieces` one at a time, pausing between them so that they arrive in separate
    /// reads (or not: the client must read the same answer either way).
    async fn write_pieces(stream: &mut TcpStream, pieces: &[&[u8]]) {
        for piece in pieces {
            stream.write_all(piece).await.unwrap();
            stream.flush().await.unwrap();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    #[tokio::test]
    async fn an_answer_split_over_reads_is_read_whole_and_the_connection_kept() {
        let (mut client, server) = scripted(|listener| async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let (head, _) = read_request(&mut stream).await;
            write_pieces(
                &mut stream,
                &[
                    b"HT",
                    b"TP/1.1 200 OK\r",
                    b"\nlambda-runtime-aws-request-id: req-1\r\nContent-Len",
                    b"gth: 11\r\n\r",
                    b"\nhello",
                    b" world",
                ],
            )
            .await;
            let (again, body) = read_request(&mut stream).await;
            stream
                .write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
                .await
                .unwrap();
            (head, again, body)
        })
        .await;
        let head = client.send(&GET, &[]).await.unwrap();
        assert_eq!(head.status, 200);
        let (name, value) = head.fields().next().unwrap();
        assert_eq!(
            (name, value),
            (&b"lambda-runtime-aws-request-id"[..], &b"req-1"[..])
        );
        assert_eq!(client.body(&head).await.unwrap(), "hello world");

        let post = Request {
            method: "POST",
            path: &["/2018-06-01/runtime/invocation/", "req-1", "/response"],
            headers: &[],
        };
        let head = client.send(&post, b"[1]").await.unwrap();
        assert_eq!(head.status, 202);
        assert!(client.body(&head).await.unwrap().is_empty());
        let (first, second, body) = server.await.unwrap();
        assert!(
            first.starts_with(
                "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: 127.0.0.1:"
            ),
            "{first}"
        );
        assert!(
            second.starts_with("POST /2018-06-01/runtime/invocation/req-1/response HTTP/1.1\r\n"),
            "{second}"
        );
        assert!(second.contains("\r\nContent-Length: 3\r\n"), "{second}");
        assert_eq!(body, b"[1]");
    }

    #[tokio::test]
    async fn chunked_bodies_are_joined_and_their_trailers_skipped() {
        let (mut client, server) = scripted(|listener| async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            read_request(&mut stream).await;
            write_pieces(
                &mut stream,
                &[
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhel",
                    b"lo\r\n1",
                    b"\r\n \r",
                    b"\n5\r\nworld\r\n0\r\nx-trailer: 1\r\n",
                    b"\r\n",
                ],
            )
            .await;
            read_request(&mut stream).await;
            // A single chunk, then the same connection again.
            stream
                .write_all(
                    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                )
                .await
                .unwrap();
        })
        .await;
        let head = client.send(&GET, &[]).await.unwrap();
        assert_eq!(client.body(&head).await.unwrap(), "hello world");
        let head = client.send(&GET, &[]).await.unwrap();
        assert_eq!(client.body(&head).await.unwrap(), "abc");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn malformed_chunks_are_protocol_errors() {
        for body in [
            &b"zz\r\nhello\r\n0\r\n\r\n"[..],
            b"3\r\nhello\r\n0\r\n\r\n",
            b"2\r\nhi\r\n0\r\nx-trailer: 1\r\nno end",
        ] {
            let answer = [
                &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
                body,
            ]
            .concat();
            let (mut client, server) = scripted(|listener| async move {
                let (mut stream, _) = listener.accept().await.unwrap();
                read_request(&mut stream).await;
                stream.write_all(&answer).await.unwrap();
                // Closed: the last case ends inside its trailers.
            })
            .await;
            let head = client.send(&GET, &[]).await.unwrap();
            let error = client.body(&head).await.unwrap_err();
            assert!(error.is_protocol() || error.is_connect(), "{error:?}");
            if !body.ends_with(b"no end") {
                assert!(error.is_protocol(), "{error:?}");
            }
            server.await.unwrap();
        }
    }

    #[tokio::test]
    async fn an_oversized_head_is_a_protocol_error() {
        let (mut client, server) = scripted(|listener| async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            read_request(&mut stream).await;
            stream.write_all(b"HTTP/1.1 200 OK\r\n").await.unwrap();
            let line = format!("X-Filler: {}\r\n", "a".repeat(1000));
            // Stops when the client gives up and closes.
            for _ in 0..1000 {
                if stream.write_all(line.as_bytes()).await.is_err() {
                    return;
                }
            }
        })
        .await;
        let error = client.send(&GET, &[]).await.unwrap_err();
        assert!(error.is_protocol(), "{error:?}");
        assert!(
            format!("{error:?}").contains("head is over 65536 bytes"),
            "{error:?}"
        );
        drop(client);
        server.await.unwrap();
    }

    #[tokio::test]
    async fn malformed_answers_are_protocol_errors_and_the_next_request_reconnects() {
        let (mut client, server) = scripted(|listener| async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            read_request(&mut stream).await;
            stream.write_all(b"SSH-2.0-OpenSSH\r\n\r\n").await.unwrap();
            let (mut stream, _) = listener.accept().await.unwrap();
            read_request(&mut stream).await;
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .await
                .unwrap();
        })
        .await;
        let error = client.send(&GET, &[]).await.unwrap_err();
        assert!(error.is_protocol(), "{error:?}");
        assert!(
            format!("{error:?}").contains("not an HTTP/1.1 status line"),
            "{error:?}"
        );
        let head = client.send(&GET, &[]).await.unwrap();
        assert_eq!(client.body(&head).await.unwrap(), "ok");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_connection_closed_mid_body_is_a_connect_error_and_the_next_request_reconnects() {
        let (mut client, server) = scripted(|listener| async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            read_request(&mut stream).await;
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"half")
                .await
                .unwrap();
            drop(stream);
            let (mut stream, _) = listener.accept().await.unwrap();
            read_request(&mut stream).await;
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                .await
                .unwrap();
        })
        .await;
        let head = client.send(&GET, &[]).await.unwrap();
        let error = client.body(&head).await.unwrap_err();
        assert!(error.is_connect(), "{error:?}");
        assert!(
            format!("{error:?}").contains("the connection closed after 6 of the body's 100 bytes"),
            "{error:?}"
        );
        let head = client.send(&GET, &[]).await.unwrap();
        assert_eq!(client.body(&head).await.unwrap(), "{}");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_body_without_a_length_ends_with_the_connection() {
        let (mut client, server) = scripted(|listener| async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            read_request(&mut stream).await;
            write_pieces(&mut stream, &[b"HTTP/1.1 200 OK\r\n\r\nall ", b"of it"]).await;
            drop(stream);
            let (mut stream, _) = listener.accept().await.unwrap();
            read_request(&mut stream).await;
            stream
                .write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
                .await
                .unwrap();
        })
        .await;
        let head = client.send(&GET, &[]).await.unwrap();
        assert_eq!(client.body(&head).await.unwrap(), "all of it");
        let head = client.send(&GET, &[]).await.unwrap();
        assert_eq!(head.status, 202);
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_while_idle_is_replaced_before_sending() {
        let (closed, was_closed) = tokio::sync::oneshot::channel();
        let (mut client, server) = scripted(|listener| async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            read_request(&mut stream).await;
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1")
                .await
                .unwrap();
            drop(stream);
            let _ = closed.send(());
            let (mut stream, _) = listener.accept().await.unwrap();
            let (head, body) = read_request(&mut stream).await;
            stream
                .write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
                .await
                .unwrap();
            (head, body)
        })
        .await;
        let head = client.send(&GET, &[]).await.unwrap();
        assert_eq!(client.body(&head).await.unwrap(), "1");
        was_closed.await.unwrap();
        // Lets the runtime's I/O driver see the close, as it would have while a handler ran.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let post = Request {
            method: "POST",
            path: &["/r"],
            headers: &[],
        };
        let head = client.send(&post, b"sent once").await.unwrap();
        assert_eq!(head.status, 202);
        let (_, body) = server.await.unwrap();
        assert_eq!(body, b"sent once");
    }

    #[tokio::test]
    async fn six_megabyte_bodies_go_both_ways_whole() {
        const SIZE: usize = 6 * 1024 * 1024;
        let payload: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
        let expected = payload.clone();
        let (mut client, server) = scripted(|listener| async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            read_request(&mut stream).await;
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {SIZE}\r\n\r\n");
            stream.write_all(head.as_bytes()).await.unwrap();
            for piece in expected.chunks(100_000) {
                stream.write_all(piece).await.unwrap();
            }
            let (head, body) = read_request(&mut stream).await;
            stream
                .write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
                .await
                .unwrap();
            (head, body)
        })
        .await;
        let head = client.send(&GET, &[]).await.unwrap();
        let body = client.body(&head).await.unwrap();
        assert!(body == payload, "the body read differs from the one sent");
        let post = Request {
            method: "POST",
            path: &["/r"],
            headers: &[],
        };
        let head = client.send(&post, &body).await.unwrap();
        assert_eq!(head.status, 202);
        let (head, sent) = server.await.unwrap();
        assert!(
            head.contains(&format!("Content-Length: {SIZE}\r\n")),
            "{head}"
        );
        assert!(sent == payload, "the body sent differs from the one read");
    }
}
