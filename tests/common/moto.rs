//! A real `moto_server` (PyPI `moto[server]`: S3, SQS, Kinesis, DynamoDB,
//! CloudWatch Logs) for tests and benches, one per test on its own port,
//! killed when dropped, and boto3 (installed with moto) to set up and check
//! what weir reads and writes.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The fake credentials and region every test uses.
pub const REGION: &str = "us-east-1";

pub struct Moto {
    child: Child,
    pub port: u16,
    /// `http://127.0.0.1:PORT`: the `endpoint` option of weir's AWS components.
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The repository's Python venv, where scripts/provision installs moto and
/// boto3. Panics with what to do when it is missing: the tests need the real
/// server, they never skip.
pub fn venv_bin(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = root.join(".venv/bin").join(name);
    assert!(
        path.is_file(),
        "{} not found: run scripts/provision (it installs moto[server] into .venv)",
        path.display()
    );
    path
}

impl Moto {
    /// Starts a fresh server and waits until it answers. The port was free
    /// a moment ago; if another process took it meanwhile (moto exits, or
    /// something else answers there), moto is started again on another.
    pub fn start() -> Moto {
        for _ in 0..3 {
            let port = crate::common::free_port();
            let child = Command::new(venv_bin("moto_server"))
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting moto_server");
            let mut moto = Moto {
                child,
                port,
                endpoint: format!("http://127.0.0.1:{port}"),
            };
            let start = Instant::now();
            loop {
                if let Ok(Some(_)) = moto.child.try_wait() {
                    break;
                }
                match moto_answers(port) {
                    Some(true) => return moto,
                    Some(false) => break,
                    None => {}
                }
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "moto_server did not start on port {port}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("moto_server exited at start three times (ports taken?)");
    }

    /// Sets the AWS environment (fake credentials, region, no profile files)
    /// on a command, weir or Python alike.
    pub fn env<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", REGION)
            .env("AWS_DEFAULT_REGION", REGION)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("MOTO_ENDPOINT", &self.endpoint)
    }

    /// Runs a Python script with boto3 against this server and returns its
    /// stdout; panics with the script's stderr when it fails. The script
    /// finds the endpoint in `MOTO_ENDPOINT`; `client(name)` is predefined.
    pub fn python(&self, script: &str) -> String {
        let prelude = "import os, boto3, json, gzip, io, time\n\
            def client(name):\n    return boto3.client(name, endpoint_url=os.environ['MOTO_ENDPOINT'])\n";
        let mut cmd = Command::new(venv_bin("python"));
        self.env(&mut cmd)
            .arg("-c")
            .arg(format!("{prelude}{script}"))
            .stdin(Stdio::null());
        let out = cmd.output().expect("running python");
        assert!(
            out.status.success(),
            "python script failed: {}\n--- script ---\n{script}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Whether moto answers on `port`: `None` when nothing listens (yet),
/// `Some(false)` when something else does.
fn moto_answers(port: u16) -> Option<bool> {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = s.write_all(b"GET /moto-api/data.json HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    let mut head = [0u8; 12];
    match s.read_exact(&mut head) {
        Ok(()) => Some(head.ends_with(b" 200")),
        // Connected while the server was still starting: ask again.
        Err(_) => None,
    }
}
