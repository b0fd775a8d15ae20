//! Syslog framings, UDP and TLS with real clients: util-linux `logger`,
//! Python's `ssl` module, and a real rsyslogd relaying to weir.

mod common;

use std::io::Read;
use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

struct Weir {
    child: Child,
    _pipeline: Pipeline,
}

impl Drop for Weir {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(input: &str, wait_tcp: Option<u16>) -> Weir {
    let api = free_port();
    let p = pipeline(&format!(
        "api: {{ listen: '127.0.0.1:{api}' }}\ninputs:\n  net: {input}\noutputs:\n  out: {{ type: stdout }}\n"
    ));
    let mut child = weir()
        .args(["run", p.path.to_str().expect("path")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn weir");
    match wait_tcp {
        Some(port) => wait_for_port(port),
        // Nothing to connect to: the input says when its socket is bound.
        None => {
            wait_for_log(&mut child, "listening (udp)", Duration::from_secs(30));
        }
    }
    Weir {
        child,
        _pipeline: p,
    }
}

fn logger(args: &[&str]) {
    let status = Command::new("logger")
        .args(args)
        .status()
        .expect("util-linux logger");
    assert!(status.success(), "logger {args:?} failed");
}

#[test]
fn logger_octet_counted_rfc5424_over_tcp() {
    let port = free_port();
    let mut w = start(
        &format!("{{ type: tcp, address: '127.0.0.1:{port}', framing: octet_counting }}"),
        Some(port),
    );
    let p = port.to_string();
    logger(&[
        "--tcp",
        "--octet-count",
        "--rfc5424",
        "-n",
        "127.0.0.1",
        "-P",
        &p,
        "-t",
        "app",
        "first message",
    ]);
    logger(&[
        "--tcp",
        "--octet-count",
        "--rfc5424",
        "-n",
        "127.0.0.1",
        "-P",
        &p,
        "-t",
        "app",
        "multi\nline",
    ]);
    let events = read_json_lines(
        w.child.stdout.take().expect("stdout"),
        2,
        Duration::from_secs(20),
    );
    assert_eq!(events.len(), 2);
    // Two `logger` runs are two connections, handled concurrently: find each
    // message rather than rely on the order they reach the output.
    let messages: Vec<&str> = events
        .iter()
        .map(|e| e["message"].as_str().expect("message"))
        .collect();
    let first = messages
        .iter()
        .find(|m| m.ends_with("first message"))
        .unwrap_or_else(|| panic!("no first message in {messages:?}"));
    assert!(first.starts_with('<') && first.contains(" app "), "{first}");
    assert!(
        messages.iter().any(|m| m.ends_with("multi\nline")),
        "octet counting keeps newlines: {messages:?}"
    );
}

#[test]
fn auto_framing_takes_counted_and_plain_lines() {
    let port = free_port();
    let mut w = start(
        &format!("{{ type: tcp, address: '127.0.0.1:{port}', framing: auto }}"),
        Some(port),
    );
    let p = port.to_string();
    logger(&[
        "--tcp",
        "--octet-count",
        "-n",
        "127.0.0.1",
        "-P",
        &p,
        "-t",
        "app",
        "counted",
    ]);
    logger(&[
        "--tcp",
        "-n",
        "127.0.0.1",
        "-P",
        &p,
        "-t",
        "app",
        "newline framed",
    ]);
    let events = read_json_lines(
        w.child.stdout.take().expect("stdout"),
        2,
        Duration::from_secs(20),
    );
    let mut msgs: Vec<&str> = events
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert_eq!(msgs.len(), 2, "{events:?}");
    // Two `logger` runs are two connections, handled concurrently: their
    // events may reach the output in either order.
    msgs.sort_by_key(|m| m.ends_with("newline framed"));
    assert!(
        msgs[0].ends_with("counted") && msgs[1].ends_with("newline framed"),
        "{msgs:?}"
    );
}

#[test]
fn udp_datagrams_from_logger_and_a_socket() {
    let port = free_port();
    let mut w = start(
        &format!("{{ type: udp, address: '127.0.0.1:{port}' }}"),
        None,
    );
    logger(&[
        "--udp",
        "--rfc5424",
        "-n",
        "127.0.0.1",
        "-P",
        &port.to_string(),
        "-t",
        "app",
        "over udp",
    ]);
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.send_to(b"line one\nline two\n", ("127.0.0.1", port))
        .expect("send");
    let events = read_json_lines(
        w.child.stdout.take().expect("stdout"),
        3,
        Duration::from_secs(20),
    );
    assert_eq!(events.len(), 3, "{events:?}");
    // The two datagrams may be batched apart, and batches reach the output
    // in any order with several workers; the lines of one stay in order.
    let (from_socket, from_logger): (Vec<_>, Vec<_>) = events
        .iter()
        .partition(|e| e["source"]["port"] == s.local_addr().expect("addr").port());
    let msgs: Vec<&str> = from_socket
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert_eq!(msgs, ["line one", "line two"], "{events:?}");
    assert_eq!(from_logger.len(), 1, "{events:?}");
    assert!(
        from_logger[0]["message"]
            .as_str()
            .is_some_and(|m| m.ends_with("over udp")),
        "{events:?}"
    );
}

struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate.
fn certs() -> Certs {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let named = |sans: Vec<String>, cn: &str| {
        let mut p = CertificateParams::new(sans).expect("params");
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, cn);
        p
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ca_params = named(Vec::new(), "weir test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().expect("key");
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().expect("key");
    let server = named(vec!["localhost".into(), "127.0.0.1".into()], "localhost")
        .signed_by(&server_key, &issuer)
        .expect("server cert");
    let client_key = KeyPair::generate().expect("key");
    let client = named(vec!["client".into()], "client")
        .signed_by(&client_key, &issuer)
        .expect("client cert");
    let write =
        |name: &str, data: String| std::fs::write(dir.path().join(name), data).expect("write");
    write("ca.pem", ca.pem());
    write("server.pem", server.pem());
    write("server-key.pem", server_key.serialize_pem());
    write("client.pem", client.pem());
    write("client-key.pem", client_key.serialize_pem());
    Certs { dir }
}

/// Sends `text` over TLS with Python's ssl module; returns whether it worked.
fn python_tls_send(port: u16, certs: &Certs, with_client_cert: bool, text: &str) -> bool {
    let client = if with_client_cert {
        format!(
            "ctx.load_cert_chain('{}', '{}')",
            certs.path("client.pem"),
            certs.path("client-key.pem")
        )
    } else {
        String::new()
    };
    let script = format!(
        "import socket, ssl, sys\n\
         ctx = ssl.create_default_context(cafile='{ca}')\n\
         ctx.minimum_version = ssl.TLSVersion.TLSv1_2\n\
         {client}\n\
         try:\n    s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', {port})), server_hostname='localhost')\n    s.sendall({text:?}.encode())\n    s.close()\nexcept Exception as e:\n    print(e, file=sys.stderr); sys.exit(1)\n",
        ca = certs.path("ca.pem"),
    );
    Command::new("python3")
        .args(["-c", &script])
        .status()
        .expect("python3")
        .success()
}

#[test]
fn tls_and_mutual_tls() {
    let c = certs();
    let port = free_port();
    let mut w = start(
        &format!(
            "{{ type: tcp, address: '127.0.0.1:{port}', tls: {{ cert_file: '{}', key_file: '{}' }} }}",
            c.path("server.pem"),
            c.path("server-key.pem")
        ),
        Some(port),
    );
    assert!(python_tls_send(port, &c, false, "secret one\n"));
    let events = read_json_lines(
        w.child.stdout.take().expect("stdout"),
        1,
        Duration::from_secs(20),
    );
    assert_eq!(events[0]["message"], "secret one");

    let port = free_port();
    let mut w = start(
        &format!(
            "{{ type: tcp, address: '127.0.0.1:{port}', tls: {{ cert_file: '{}', key_file: '{}', client_ca_file: '{}' }} }}",
            c.path("server.pem"),
            c.path("server-key.pem"),
            c.path("ca.pem")
        ),
        Some(port),
    );
    let _ = python_tls_send(port, &c, false, "without a client certificate\n");
    assert!(python_tls_send(
        port,
        &c,
        true,
        "with a client certificate\n"
    ));
    // The accepted message, however long it takes; then a while for the
    // refused one, which must never come.
    let lines = JsonLines::new(w.child.stdout.take().expect("stdout"));
    let mut events = lines.take(1, Duration::from_secs(30));
    events.extend(lines.take(1, Duration::from_secs(2)));
    let msgs: Vec<&str> = events
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert_eq!(msgs, ["with a client certificate"]);
    signal(&w.child, "TERM");
    wait_exit(&mut w.child, Duration::from_secs(20));
    let mut err = String::new();
    w.child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("stderr");
    assert!(err.contains("TLS handshake failed"), "{err}");
}

#[test]
fn a_bad_certificate_path_fails_validation_naming_it() {
    let p = pipeline(
        "inputs:\n  net: { type: tcp, tls: { cert_file: /nope/cert.pem, key_file: /nope/key.pem } }\noutputs:\n  o: { type: stdout }\n",
    );
    let err = validate_errors(&p.path);
    assert!(err.contains("cert_file `/nope/cert.pem`"), "{err}");
}

/// rsyslogd's own configuration directory and process, killed when dropped.
struct Rsyslog {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real rsyslogd that takes syslog over TCP on `listen` and forwards it to
/// weir on `forward_to` the way production relays are set up: RFC 5424
/// messages, octet-counted framing (RFC 6587), over TCP.
fn rsyslog_relay(listen: u16, forward_to: u16) -> Rsyslog {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            "global(workDirectory=\"{dir}\")\n\
             module(load=\"imtcp\")\n\
             input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{listen}\")\n\
             action(type=\"omfwd\" target=\"127.0.0.1\" port=\"{forward_to}\" protocol=\"tcp\"\n\
                    TCP_Framing=\"octet-counted\" template=\"RSYSLOG_SyslogProtocol23Format\")\n",
            dir = dir.path().display()
        ),
    )
    .expect("write rsyslog.conf");
    let rsyslogd = ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"]
        .into_iter()
        .find(|p| std::path::Path::new(p).is_file())
        .expect("rsyslogd not found: run scripts/provision (Debian package rsyslog)");
    let child = Command::new(rsyslogd)
        .arg("-n")
        .arg("-f")
        .arg(&conf)
        .arg("-i")
        .arg(dir.path().join("rsyslogd.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start rsyslogd");
    wait_for_port(listen);
    Rsyslog { child, _dir: dir }
}

#[test]
fn rsyslog_forwards_octet_counted_rfc5424_unchanged() {
    let weir_port = free_port();
    let mut w = start(
        &format!(
            "{{ type: tcp, address: '127.0.0.1:{weir_port}', framing: auto, format: syslog }}"
        ),
        Some(weir_port),
    );
    let relay_port = free_port();
    let _relay = rsyslog_relay(relay_port, weir_port);
    let p = relay_port.to_string();
    let n = 20;
    for i in 0..n {
        logger(&[
            "--tcp",
            "--rfc5424",
            "-n",
            "127.0.0.1",
            "-P",
            &p,
            "-t",
            "billing",
            "-p",
            "local3.warning",
            &format!("invoice {i} failed: code=E{i:03}"),
        ]);
    }
    let events = read_json_lines(
        w.child.stdout.take().expect("stdout"),
        n,
        Duration::from_secs(30),
    );
    assert_eq!(events.len(), n, "{events:?}");
    // Each `logger` run is its own connection to rsyslog, and imtcp serves
    // connections from several worker threads, so the relay may forward them
    // in another order than they were sent: compare the set, not the order.
    let mut messages: Vec<&str> = events
        .iter()
        .map(|e| e["message"].as_str().unwrap_or_default())
        .collect();
    messages.sort_unstable();
    let mut wanted: Vec<String> = (0..n)
        .map(|i| format!("invoice {i} failed: code=E{i:03}"))
        .collect();
    wanted.sort_unstable();
    assert_eq!(messages, wanted, "{events:?}");
    for e in &events {
        assert_eq!(e["log"]["syslog"]["appname"], "billing", "{e}");
        assert_eq!(e["log"]["syslog"]["facility"]["name"], "local3", "{e}");
        assert_eq!(e["log"]["syslog"]["severity"]["name"], "Warning", "{e}");
        assert!(e["@timestamp"].is_string(), "{e}");
        // rsyslog adds its own structured data; it arrives parsed.
        assert_eq!(
            e["log"]["syslog"]["structured_data"]["timeQuality"]["tzKnown"], "1",
            "{e}"
        );
    }
}
