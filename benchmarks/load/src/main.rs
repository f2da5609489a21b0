//! Servers and tools for portcullis' load benchmarks; `benchmarks/run.sh` drives them.
//!
//! ```text
//! portcullis-load jwks           --port P --keys DIR
//! portcullis-load bare           --port P
//! portcullis-load portcullis     --port P --jwks-port J --keys DIR [--cold]
//! portcullis-load jwt-authorizer --port P --jwks-port J
//! portcullis-load tower-sessions --port P
//! portcullis-load tokens         --alg rs256|es256|eddsa --count N --jwks-port J --keys DIR
//! portcullis-load memory         --sessions N [--store portcullis|tower-sessions]
//! portcullis-load verify         --keys DIR [--count N]
//! ```

mod crypto;
mod keys;
mod memory;
mod servers;

use std::path::PathBuf;
use std::process::ExitCode;

struct Args(Vec<String>);

impl Args {
    fn value(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .position(|a| a == name)
            .and_then(|i| self.0.get(i + 1))
            .map(String::as_str)
    }
    fn flag(&self, name: &str) -> bool {
        self.0.iter().any(|a| a == name)
    }
    fn number<T: std::str::FromStr>(&self, name: &str) -> Result<T, String> {
        let v = self.value(name).ok_or_else(|| format!("missing {name}"))?;
        v.parse()
            .map_err(|_| format!("{name}: not a number: {v:?}"))
    }
    fn path(&self, name: &str) -> Result<PathBuf, String> {
        self.value(name)
            .map(PathBuf::from)
            .ok_or_else(|| format!("missing {name}"))
    }
}

fn server_runtime() -> Result<tokio::runtime::Runtime, String> {
    // One worker thread: the server's CPU is the core it is pinned to.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

fn run(cmd: &str, args: &Args) -> Result<(), String> {
    match cmd {
        "jwks" => {
            server_runtime()?.block_on(servers::jwks(args.number("--port")?, &args.path("--keys")?))
        }
        "bare" => server_runtime()?.block_on(servers::bare(args.number("--port")?)),
        "portcullis" => server_runtime()?.block_on(servers::portcullis(
            args.number("--port")?,
            args.number("--jwks-port")?,
            &args.path("--keys")?,
            args.flag("--cold"),
        )),
        "jwt-authorizer" => server_runtime()?.block_on(servers::jwt_authorizer(
            args.number("--port")?,
            args.number("--jwks-port")?,
        )),
        "tower-sessions" => {
            server_runtime()?.block_on(servers::tower_sessions(args.number("--port")?))
        }
        "tokens" => {
            let alg = args.value("--alg").ok_or("missing --alg")?;
            let key = keys::load(&args.path("--keys")?, alg)?;
            let jwks_port = args.number("--jwks-port")?;
            let count: u64 = args.number("--count")?;
            let mut out = String::new();
            for n in 0..count {
                out.push_str(&keys::mint(&key, jwks_port, n)?);
                out.push('\n');
            }
            print!("{out}");
            Ok(())
        }
        "memory" => memory::run(
            args.number("--sessions")?,
            args.value("--store").unwrap_or("portcullis"),
        ),
        "verify" => crypto::run(
            &args.path("--keys")?,
            args.value("--count").map_or(Ok(2_000), |_| args.number("--count"))?,
        ),
        _ => Err(format!(
            "unknown command {cmd:?}; see the top of src/main.rs"
        )),
    }
}

fn main() -> ExitCode {
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.is_empty() {
        eprintln!(
            "usage: portcullis-load <jwks|bare|portcullis|jwt-authorizer|tower-sessions|tokens|memory|verify> [options]"
        );
        return ExitCode::from(2);
    }
    let cmd = argv.remove(0);
    match run(&cmd, &Args(argv)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("portcullis-load {cmd}: {e}");
            ExitCode::FAILURE
        }
    }
}
