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

    #[test]
    fn answers_are_parsed() {
        let raw = b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n{}";
        let (status, body) = parse_response(raw).unwrap();
        assert_eq!((status, body), (404, &b"{}"[..]));
        assert!(parse_response(b"garbage").is_err());
    }
}
