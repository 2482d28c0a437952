//! Benchmark subject: a blocking, allocation-light Runtime API client with no error handling
//! worth the name. No real function should be written like this; it shows what the harness
//! itself can measure, the ceiling for every runtime.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

fn main() -> std::io::Result<()> {
    #[allow(clippy::disallowed_methods)] // This subject has no `Config`; it is the bare minimum.
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").map_err(std::io::Error::other)?;
    let stream = TcpStream::connect(&api)?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let next = format!("GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: {api}\r\n\r\n");
    let mut line = String::new();
    let mut body = Vec::new();
    let mut request = Vec::new();
    loop {
        writer.write_all(next.as_bytes())?;
        let (request_id, length) = read_head(&mut reader, &mut line)?;
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
        request.clear();
        write!(
            request,
            "POST /2018-06-01/runtime/invocation/{request_id}/response HTTP/1.1\r\nHost: {api}\r\nContent-Length: {length}\r\n\r\n"
        )?;
        request.extend_from_slice(&body);
        writer.write_all(&request)?;
        let (_, length) = read_head(&mut reader, &mut line)?;
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    }
}

/// Reads a response head; returns its request id (if any) and content length.
fn read_head(reader: &mut impl BufRead, line: &mut String) -> std::io::Result<(String, usize)> {
    let mut request_id = String::new();
    let mut length = 0;
    loop {
        line.clear();
        if reader.read_line(line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let header = line.trim_end();
        if header.is_empty() {
            return Ok((request_id, length));
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().map_err(std::io::Error::other)?;
            } else if name.eq_ignore_ascii_case("lambda-runtime-aws-request-id") {
                value.trim().clone_into(&mut request_id);
            }
        }
    }
}
