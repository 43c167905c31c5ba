//! A client of the daemon's root-only Unix socket: hyper's HTTP/1.1
//! client, parameters in a form body, the JSON answer back. A client keeps
//! its connection open between calls (keep-alive) and makes another when
//! the daemon closed it (idle). Used by the `vpc` command line and by
//! `vpc apply` / `vpc destroy`.
use std::{
    path::{Path, PathBuf},
    sync::Mutex,
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

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

/// A client of one daemon socket. A clone starts without a connection.
pub struct Client {
    socket: PathBuf,
    timeout: Duration,
    /// The open connection, made at the first call.
    connection: Mutex<Option<Connection>>,
}

/// One HTTP/1.1 connection, driven by a runtime of its own while a call
/// waits on it.
struct Connection {
    runtime: tokio::runtime::Runtime,
    sender: SendRequest<Full<Bytes>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("socket", &self.socket).field("timeout", &self.timeout).finish()
    }
}

impl Clone for Client {
    fn clone(&self) -> Self {
        Self { socket: self.socket.clone(), timeout: self.timeout, connection: Mutex::new(None) }
    }
}

impl Client {
    /// A client of the daemon at `socket`.
    pub fn new(socket: impl AsRef<Path>) -> Self {
        Self { socket: socket.as_ref().to_path_buf(), timeout: Duration::from_secs(120), connection: Mutex::new(None) }
    }

    /// Connects to the socket.
    fn connect(&self) -> Result<Connection, ClientError> {
        let proto = |e: std::io::Error| ClientError::Protocol(e.to_string());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(proto)?;
        let sender = runtime.block_on(async {
            let stream = tokio::net::UnixStream::connect(&self.socket)
                .await
                .map_err(|source| ClientError::Connect { path: self.socket.clone(), source })?;
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| ClientError::Protocol(e.to_string()))?;
            // Runs while a call waits (the runtime has one thread).
            tokio::spawn(async move {
                let _ = connection.await;
            });
            Ok::<_, ClientError>(sender)
        })?;
        Ok(Connection { runtime, sender })
    }

    /// Calls `action` with `params`; the answer's JSON body.
    pub fn call(&self, action: &str, params: &[(&str, &str)]) -> Result<Value, ClientError> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            form.append_pair(k, v);
        }
        let body = Bytes::from(form.finish());
        let request = || {
            hyper::Request::post("/")
                .header(hyper::header::HOST, "localhost")
                .header("x-acs-action", action)
                .header(hyper::header::ACCEPT, "application/json")
                .header(hyper::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Full::new(body.clone()))
                .map_err(|e| ClientError::Protocol(format!("the request cannot be made: {e}")))
        };
        let mut connection = self.connection.lock().unwrap_or_else(|e| e.into_inner());
        // A kept connection the daemon closed meanwhile (idle) takes no
        // request: it is made again, once.
        let mut fresh = false;
        let (status, body) = loop {
            if connection.is_none() {
                *connection = Some(self.connect()?);
                fresh = true;
            }
            let c = connection.as_mut().expect("connected above");
            let request = request()?;
            let sender = &mut c.sender;
            let answer = c.runtime.block_on(async {
                tokio::time::timeout(self.timeout, async {
                    // Not sent unless the connection is ready.
                    if let Err(e) = sender.ready().await {
                        return Err((true, e.to_string()));
                    }
                    let answer = sender.send_request(request).await.map_err(|e| (e.is_canceled(), e.to_string()))?;
                    let status = answer.status().as_u16();
                    let body = answer.into_body().collect().await.map_err(|e| (false, e.to_string()))?.to_bytes();
                    Ok((status, body))
                })
                .await
                .unwrap_or_else(|_| Err((false, format!("no answer in {:?}", self.timeout))))
            });
            match answer {
                Ok(a) => break a,
                Err((unsent, _)) if unsent && !fresh => *connection = None,
                Err((_, why)) => {
                    *connection = None;
                    return Err(ClientError::Protocol(why));
                }
            }
        };
        let json: Value = serde_json::from_slice(&body)
            .map_err(|e| ClientError::Protocol(format!("answer is not JSON ({e}): {}", String::from_utf8_lossy(&body))))?;
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

/// Environment variables of the default region, in the order they are
/// read: the aliyun CLI's (`ALIBABA_CLOUD_REGION_ID`,
/// `ALIBABACLOUD_REGION_ID`, `ALICLOUD_REGION_ID`), then Terraform's
/// provider's (`ALIBABA_CLOUD_REGION`, `ALICLOUD_REGION`). The aliyun CLI
/// also reads the bare `REGION_ID` and `REGION`; too generic to take here.
pub const REGION_ENV: &[&str] =
    &["ALIBABA_CLOUD_REGION_ID", "ALIBABACLOUD_REGION_ID", "ALICLOUD_REGION_ID", "ALIBABA_CLOUD_REGION", "ALICLOUD_REGION"];

/// Environment variables naming the profile of the aliyun CLI's config file
/// (read, as aliyun does, when its `current` profile is `default` or unset).
pub const PROFILE_ENV: &[&str] = &["ALIBABACLOUD_PROFILE", "ALIBABA_CLOUD_PROFILE", "ALICLOUD_PROFILE"];

/// The aliyun CLI's config file: `$HOME/.aliyun/config.json`.
pub fn aliyun_config_path(home: Option<&Path>) -> Option<PathBuf> {
    home.map(|h| h.join(".aliyun").join("config.json"))
}

/// Where a default region was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegionSource {
    /// The `--region` flag.
    Flag,
    /// A profile of the aliyun CLI's config file.
    Config { profile: String },
    /// An environment variable.
    Env(&'static str),
}

/// The `region_id` of a profile in the aliyun CLI's config file (`{"current":
/// "default", "profiles": [{"name": "default", "region_id": ...}]}`): the
/// profile named by `env` ([`PROFILE_ENV`]) when `current` is `default` or
/// unset, else `current`. `Ok(None)` when the profile has no region; an
/// error when the text is no such JSON.
pub fn config_region(json: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Option<(String, String)>, String> {
    #[derive(serde::Deserialize)]
    struct Config {
        #[serde(default)]
        current: String,
        #[serde(default)]
        profiles: Vec<Profile>,
    }
    #[derive(serde::Deserialize)]
    struct Profile {
        #[serde(default)]
        name: String,
        #[serde(default)]
        region_id: String,
    }
    let config: Config = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let mut name = config.current;
    if name.is_empty() || name == "default" {
        name = first_env(PROFILE_ENV, env).map(|(_, v)| v).unwrap_or_else(|| "default".to_string());
    }
    Ok(config
        .profiles
        .into_iter()
        .find(|p| p.name == name)
        .filter(|p| !p.region_id.is_empty())
        .map(|p| (p.name, p.region_id)))
}

/// The first of `names` set (non-empty) in `env`.
fn first_env(names: &[&'static str], env: &dyn Fn(&str) -> Option<String>) -> Option<(&'static str, String)> {
    names.iter().find_map(|n| env(n).filter(|v| !v.trim().is_empty()).map(|v| (*n, v.trim().to_string())))
}

/// The default region of an action call, in the aliyun CLI's order: the
/// `--region` flag, then the profile of its config file (`config`: the
/// file's text, if there is one), then the environment ([`REGION_ENV`]).
/// (The aliyun CLI reads the environment only when neither the flag nor the
/// profile gives a region.) An unreadable config file is skipped with a
/// warning in the returned list.
pub fn default_region(
    flag: Option<&str>,
    config: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> (Option<(String, RegionSource)>, Vec<String>) {
    let mut warnings = Vec::new();
    if let Some(f) = flag.map(str::trim).filter(|f| !f.is_empty()) {
        return (Some((f.to_string(), RegionSource::Flag)), warnings);
    }
    // As the aliyun CLI: ALIBABA_CLOUD_IGNORE_PROFILE=TRUE skips the file.
    let ignore = first_env(&["ALIBABA_CLOUD_IGNORE_PROFILE", "ALIBABACLOUD_IGNORE_PROFILE"], env)
        .is_some_and(|(_, v)| v.eq_ignore_ascii_case("true"));
    if let Some(text) = config.filter(|_| !ignore) {
        match config_region(text, env) {
            Ok(Some((profile, region))) => return (Some((region, RegionSource::Config { profile })), warnings),
            Ok(None) => {}
            Err(e) => warnings.push(format!("ignoring the aliyun config file: {e}")),
        }
    }
    (first_env(REGION_ENV, env).map(|(n, v)| (v, RegionSource::Env(n))), warnings)
}

/// Adds `RegionId` = `region` to an action's parameters unless the caller
/// gave one (an explicit `--RegionId` wins).
pub fn add_region(params: &mut Vec<(String, String)>, region: Option<&str>) {
    if let Some(r) = region
        && !params.iter().any(|(k, _)| k == "RegionId")
    {
        params.push(("RegionId".to_string(), r.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    const CONFIG: &str = r#"{"current": "default", "profiles": [
        {"name": "default", "mode": "AK", "region_id": "cn-hangzhou"},
        {"name": "bj", "mode": "AK", "region_id": "cn-beijing"},
        {"name": "none", "mode": "AK"}]}"#;

    fn region(flag: Option<&str>, config: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        default_region(flag, config, env).0.map(|(r, _)| r)
    }

    #[test]
    fn the_region_flag_wins_over_the_config_file_and_the_environment() {
        let env = env_of(&[("ALIBABA_CLOUD_REGION_ID", "cn-shanghai")]);
        assert_eq!(default_region(Some("eu-central-1"), Some(CONFIG), &env).0, Some(("eu-central-1".into(), RegionSource::Flag)));
    }

    #[test]
    fn the_config_files_profile_comes_before_the_environment_as_in_the_aliyun_cli() {
        let env = env_of(&[("ALIBABA_CLOUD_REGION_ID", "cn-shanghai")]);
        let got = default_region(None, Some(CONFIG), &env).0;
        assert_eq!(got, Some(("cn-hangzhou".into(), RegionSource::Config { profile: "default".into() })));
        // A profile chosen by the environment.
        let env = env_of(&[("ALIBABA_CLOUD_PROFILE", "bj"), ("ALIBABA_CLOUD_REGION_ID", "cn-shanghai")]);
        assert_eq!(region(None, Some(CONFIG), &env).as_deref(), Some("cn-beijing"));
        // A profile without a region: the environment.
        let env = env_of(&[("ALICLOUD_PROFILE", "none"), ("ALIBABA_CLOUD_REGION_ID", "cn-shanghai")]);
        assert_eq!(region(None, Some(CONFIG), &env).as_deref(), Some("cn-shanghai"));
        // ALIBABA_CLOUD_IGNORE_PROFILE=TRUE skips the file.
        let env = env_of(&[("ALIBABA_CLOUD_IGNORE_PROFILE", "TRUE"), ("ALICLOUD_REGION", "cn-shenzhen")]);
        assert_eq!(region(None, Some(CONFIG), &env).as_deref(), Some("cn-shenzhen"));
        // `current` names another profile.
        let cfg = r#"{"current": "bj", "profiles": [{"name": "default", "region_id": "cn-hangzhou"}, {"name": "bj", "region_id": "cn-beijing"}]}"#;
        assert_eq!(region(None, Some(cfg), &env_of(&[])).as_deref(), Some("cn-beijing"));
    }

    #[test]
    fn environment_variables_are_read_in_the_aliyun_then_terraform_order() {
        let all = env_of(&[
            ("ALICLOUD_REGION", "e"),
            ("ALIBABA_CLOUD_REGION", "d"),
            ("ALICLOUD_REGION_ID", "c"),
            ("ALIBABACLOUD_REGION_ID", "b"),
            ("ALIBABA_CLOUD_REGION_ID", "a"),
        ]);
        assert_eq!(default_region(None, None, &all).0, Some(("a".into(), RegionSource::Env("ALIBABA_CLOUD_REGION_ID"))));
        assert_eq!(region(None, None, &env_of(&[("ALICLOUD_REGION_ID", "c"), ("ALICLOUD_REGION", "e")])).as_deref(), Some("c"));
        assert_eq!(region(None, None, &env_of(&[("ALICLOUD_REGION", "e")])).as_deref(), Some("e"));
        // Empty values do not count.
        assert_eq!(region(None, None, &env_of(&[("ALIBABA_CLOUD_REGION_ID", ""), ("ALICLOUD_REGION", "e")])).as_deref(), Some("e"));
        assert_eq!(region(None, None, &env_of(&[])), None);
    }

    #[test]
    fn a_broken_config_file_is_skipped_with_a_warning() {
        let (got, warnings) = default_region(None, Some("{not json"), &env_of(&[("ALICLOUD_REGION", "e")]));
        assert_eq!(got.map(|(r, _)| r).as_deref(), Some("e"));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
    }

    #[test]
    fn an_explicit_region_id_wins_over_the_default() {
        let mut p = vec![("RegionId".to_string(), "cn-beijing".to_string())];
        add_region(&mut p, Some("cn-hangzhou"));
        assert_eq!(p, [("RegionId".to_string(), "cn-beijing".to_string())]);
        let mut p = vec![("VpcId".to_string(), "vpc-1".to_string())];
        add_region(&mut p, Some("cn-hangzhou"));
        assert_eq!(p[1], ("RegionId".to_string(), "cn-hangzhou".to_string()));
        let mut p = Vec::new();
        add_region(&mut p, None);
        assert!(p.is_empty());
    }

    /// Reads one request (headers and a Content-Length body) from `s`.
    fn read_request(s: &mut std::os::unix::net::UnixStream) -> Option<String> {
        use std::io::Read;
        let mut raw = Vec::new();
        let mut byte = [0u8; 1];
        while !raw.ends_with(b"\r\n\r\n") {
            if s.read(&mut byte).ok()? == 0 {
                return None;
            }
            raw.push(byte[0]);
        }
        let head = String::from_utf8(raw).ok()?;
        let len: usize = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).ok()?;
        Some(String::from_utf8(body).unwrap())
    }

    #[test]
    fn calls_keep_their_connection_and_make_another_once_it_is_closed() {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("vpc-client-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        // Two answers on the first connection, then it is closed; one on
        // the second. Each answer tells the connection and the body seen.
        let server = std::thread::spawn(move || {
            for (conn, answers) in [(1, 2), (2, 1)] {
                let (mut s, _) = listener.accept().unwrap();
                for _ in 0..answers {
                    let body = read_request(&mut s).unwrap();
                    let json = serde_json::json!({ "Connection": conn, "Body": body }).to_string();
                    let status = if body.contains("fail") { "400 Bad Request" } else { "200 OK" };
                    write!(s, "HTTP/1.1 {status}\r\ncontent-length: {}\r\n\r\n{json}", json.len()).unwrap();
                }
            }
        });
        let c = Client::new(&path);
        let first = c.call("A", &[("K", "1")]).unwrap();
        let second = c.call("A", &[("K", "fail")]).unwrap_err();
        let third = c.call("A", &[("K", "3")]).unwrap();
        server.join().unwrap();
        assert_eq!(first["Connection"], 1);
        assert_eq!(first["Body"], "K=1");
        match second {
            ClientError::Api { status, body, .. } => {
                assert_eq!(status, 400);
                assert_eq!(body["Connection"], 1);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(third["Connection"], 2);
        assert_eq!(third["Body"], "K=3");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
