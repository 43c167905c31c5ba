//! A client of the daemon's root-only Unix socket: one HTTP/1.1 request per
//! call, parameters in a form body, the JSON answer back. Used by the `vpc`
//! command line and by `vpc apply` / `vpc destroy`.
use std::{
    io::{Read, Write},
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    time::Duration,
};

use serde_json::Value;
use thiserror::Error;

/// Where the daemon listens by default.
pub const DEFAULT_SOCKET: &str = "/run/vpc/vpc.sock";

/// The socket path: `VPC_SOCKET` if set, else [`DEFAULT_SOCKET`].
pub fn default_socket() -> PathBuf {
    std::env::var_os("VPC_SOCKET").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
}

/// Why a call failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The daemon answered with an error (its JSON body: RequestId, Code, Message).
    #[error("{code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Code.
        code: String,
        /// Message.
        message: String,
        /// The whole error body.
        body: Value,
    },
    /// The daemon could not be reached.
    #[error("cannot reach the daemon at {path}: {source} (is `vpc daemon` running?)")]
    Connect { path: PathBuf, source: std::io::Error },
    /// The exchange failed or the answer was not HTTP with a JSON body.
    #[error("bad exchange with the daemon: {0}")]
    Protocol(String),
}

impl ClientError {
    /// The cloud-style code of this error.
    pub fn code(&self) -> &str {
        match self {
            ClientError::Api { code, .. } => code,
            ClientError::Connect { .. } => "DaemonUnreachable",
            ClientError::Protocol(_) => "InternalError",
        }
    }

    /// The error as a JSON body.
    pub fn body(&self) -> Value {
        match self {
            ClientError::Api { body, .. } => body.clone(),
            other => serde_json::json!({ "Code": other.code(), "Message": other.to_string() }),
        }
    }
}

/// A client of one daemon socket.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
    timeout: Duration,
}

impl Client {
    /// A client of the daemon at `socket`.
    pub fn new(socket: impl AsRef<Path>) -> Self {
        Self { socket: socket.as_ref().to_path_buf(), timeout: Duration::from_secs(120) }
    }

    /// Calls `action` with `params`; the answer's JSON body.
    pub fn call(&self, action: &str, params: &[(&str, &str)]) -> Result<Value, ClientError> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            form.append_pair(k, v);
        }
        let body = form.finish();
        let request = format!(
            "POST / HTTP/1.1\r\nHost: localhost\r\nx-acs-action: {action}\r\nAccept: application/json\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        if action.contains(['\r', '\n']) {
            return Err(ClientError::Protocol("an action name cannot contain a line break".into()));
        }
        let mut stream = UnixStream::connect(&self.socket)
            .map_err(|source| ClientError::Connect { path: self.socket.clone(), source })?;
        let proto = |e: std::io::Error| ClientError::Protocol(e.to_string());
        stream.set_read_timeout(Some(self.timeout)).map_err(proto)?;
        stream.write_all(request.as_bytes()).map_err(proto)?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).map_err(proto)?;
        let (status, body) = parse_response(&raw)?;
        let json: Value = serde_json::from_slice(body)
            .map_err(|e| ClientError::Protocol(format!("answer is not JSON ({e}): {}", String::from_utf8_lossy(body))))?;
        if (200..300).contains(&status) {
            return Ok(json);
        }
        Err(ClientError::Api {
            status,
            code: json["Code"].as_str().unwrap_or("Unknown").to_string(),
            message: json["Message"].as_str().unwrap_or_default().to_string(),
            body: json,
        })
    }
}

/// Status and body of an HTTP/1.1 answer read to its end.
fn parse_response(raw: &[u8]) -> Result<(u16, &[u8]), ClientError> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| ClientError::Protocol("no end of headers in the answer".into()))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|e| ClientError::Protocol(e.to_string()))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| ClientError::Protocol(format!("bad status line: {head:?}")))?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = &raw[end + 4..];
    if chunked {
        return Err(ClientError::Protocol("chunked answers are not expected from the daemon".into()));
    }
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_parsed() {
        let raw = b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n{}";
        let (status, body) = parse_response(raw).unwrap();
        assert_eq!((status, body), (404, &b"{}"[..]));
        assert!(parse_response(b"garbage").is_err());
    }
}
