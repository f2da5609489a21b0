//! Starts the real OpenID provider of the test suite (`oidc-provider` from npm, in
//! `tests/idp/`) on 127.0.0.1 and gets tokens from it. A missing component fails loudly.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The machine-to-machine client of `tests/idp/server.js`.
pub const MACHINE_CLIENT: (&str, &str) = (
    "portcullis-machine",
    "machine-secret-that-is-long-enough-0123456789",
);
/// The resource (audience) of the provider's JWT access tokens.
pub const RESOURCE: &str = "urn:portcullis:api";

/// The provider process; killed when dropped.
pub struct Provider {
    child: Child,
    /// The issuer URL.
    pub issuer: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(program))
            .find(|p| p.is_file())
    })
}

impl Provider {
    /// Starts `node tests/idp/server.js` on a free port of 127.0.0.1.
    pub fn start() -> Self {
        let idp = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/idp");
        assert!(
            idp.join("node_modules/oidc-provider/package.json")
                .is_file(),
            "tests/idp/node_modules is missing: run `npm ci --prefix tests/idp` (bash scripts/test.sh does)"
        );
        let node =
            which("node").expect("`node` (Node.js 20+) is required by the OpenID provider tests");
        let mut child = Command::new(node)
            .arg(idp.join("server.js"))
            .args(["--host", "127.0.0.1", "--port", "0", "--app-port", "1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("could not start node tests/idp/server.js");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line.strip_prefix("listening ") {
                    let _ = tx.send(port.trim().to_owned());
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the OpenID provider did not start");
        Self {
            child,
            issuer: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A JWT access token for the machine client with `scope`, by the client-credentials grant.
    pub async fn machine_token(&self, scope: &str) -> String {
        use base64::Engine;
        use bytes::Bytes;
        use http_body_util::{BodyExt, Full};
        use hyper_util::client::legacy::Client;
        use hyper_util::rt::TokioExecutor;

        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", MACHINE_CLIENT.0, MACHINE_CLIENT.1));
        let body = format!("grant_type=client_credentials&resource={RESOURCE}&scope={scope}");
        let req = http::Request::post(format!("{}/token", self.issuer))
            .header("authorization", format!("Basic {basic}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let res = client.request(req).await.unwrap();
        let status = res.status();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert!(status.is_success(), "token endpoint: {status} {body:?}");
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        json["access_token"].as_str().unwrap().to_owned()
    }
}
