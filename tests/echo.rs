//! A TCP service that names itself, and connections to it, for the traffic
//! tests (load balancers, endpoints): a connection reads the name of the
//! service that answered, then every line it sends comes back.
use std::{
    io::{BufRead, BufReader, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use vpc_control::netns::NetnsGuard;

/// The port the service listens on.
pub const SERVICE_PORT: u16 = 8080;

/// A TCP service on [`SERVICE_PORT`] in namespace `ns`: each connection is
/// sent `name` and a newline, then every line it sends is echoed. It stops
/// listening when dropped (a new connection is then refused; the ones it
/// accepted go on).
pub struct Service {
    stop: Arc<AtomicBool>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl Service {
    pub fn start(ns: &str, name: &str) -> Service {
        let listener = {
            let _in = NetnsGuard::enter(ns).unwrap_or_else(|e| panic!("entering {ns}: {e}"));
            TcpListener::bind(("0.0.0.0", SERVICE_PORT)).unwrap_or_else(|e| panic!("listening in {ns}: {e}"))
        };
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (name, stopping) = (name.to_string(), stop.clone());
        let accept = std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                let Ok((mut conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                conn.set_nonblocking(false).unwrap();
                let name = name.clone();
                std::thread::spawn(move || {
                    if writeln!(conn, "{name}").is_err() {
                        return;
                    }
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                        if conn.write_all(line.as_bytes()).is_err() {
                            return;
                        }
                        line.clear();
                    }
                });
            }
        });
        Service { stop, accept: Some(accept) }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// A client connection through the load balancer and the backend that
/// answered it.
pub struct Conn {
    /// The connection.
    pub stream: BufReader<TcpStream>,
    /// The name the service that answered sent first.
    pub backend: String,
}

impl Conn {
    /// Opens a connection from namespace `ns` to `to` and reads the name of
    /// the backend that answers.
    pub fn open(ns: &str, to: SocketAddr) -> Conn {
        let stream = {
            let _in = NetnsGuard::enter(ns).unwrap();
            TcpStream::connect_timeout(&to, Duration::from_secs(3)).unwrap_or_else(|e| panic!("connecting to {to} from {ns}: {e}"))
        };
        stream.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut stream = BufReader::new(stream);
        let mut backend = String::new();
        stream.read_line(&mut backend).unwrap_or_else(|e| panic!("reading the backend's name through {to}: {e}"));
        Conn { stream, backend: backend.trim().to_string() }
    }

    /// [`Self::open`], or None if the connection is refused (a backend
    /// whose service is down and not yet out of the tables).
    pub fn try_open(ns: &str, to: SocketAddr) -> Option<Conn> {
        let stream = {
            let _in = NetnsGuard::enter(ns).unwrap();
            TcpStream::connect_timeout(&to, Duration::from_secs(3)).ok()?
        };
        stream.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut stream = BufReader::new(stream);
        let mut backend = String::new();
        stream.read_line(&mut backend).ok()?;
        Some(Conn { stream, backend: backend.trim().to_string() })
    }

    /// True if the connection was reset or closed: a line sent gets a reset
    /// or the end of the stream back, not silence.
    pub fn is_closed(&mut self) -> bool {
        if writeln!(self.stream.get_mut(), "closed?").is_err() {
            return true;
        }
        let mut back = String::new();
        match self.stream.read_line(&mut back) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => matches!(e.kind(), std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe),
        }
    }

    /// True if a line sent comes back (the connection still works end to end).
    pub fn echoes(&mut self, line: &str) -> bool {
        if let Err(e) = writeln!(self.stream.get_mut(), "{line}") {
            eprintln!("sending {line:?} to {}: {e}", self.backend);
            return false;
        }
        let mut back = String::new();
        match self.stream.read_line(&mut back) {
            Ok(n) if n > 0 && back.trim() == line => true,
            other => {
                eprintln!("{line:?} sent to {}: got {other:?} {back:?}", self.backend);
                false
            }
        }
    }
}
