//! Bytes per session in an in-memory store: the process's RSS before and after `N` sessions,
//! each holding a distinct access token of about 1 KB (a realistic JWT's size).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Size of each session's access token.
pub const TOKEN_BYTES: usize = 1024;

fn rss_kib() -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmRSS in /proc/self/status".to_owned())
}

fn token(i: usize) -> String {
    // Distinct per session, base64url-like alphabet, TOKEN_BYTES long.
    let mut t = format!("eyJhbGciOiJSUzI1NiJ9.{i:012}.");
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut x = i as u64 ^ 0x9E37_79B9_7F4A_7C15;
    while t.len() < TOKEN_BYTES {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        t.push(char::from(alphabet[(x % 64) as usize]));
    }
    t
}

/// Fills the store named `store` with `sessions` sessions and prints the RSS delta.
pub fn run(sessions: usize, store: &str) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let (before, after) = match store {
        "portcullis" => rt.block_on(portcullis(sessions))?,
        "tower-sessions" => rt.block_on(tower_sessions(sessions))?,
        other => {
            return Err(format!(
                "unknown store {other:?} (portcullis, tower-sessions)"
            ));
        }
    };
    let delta = after.saturating_sub(before) * 1024;
    println!(
        "store={store} sessions={sessions} token_bytes={TOKEN_BYTES} rss_before_kib={before} rss_after_kib={after} bytes_per_session={} secs={:.1}",
        delta / sessions.max(1) as u64,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn portcullis(sessions: usize) -> Result<(u64, u64), String> {
    use portcullis::session::store::MemoryStore;
    use portcullis::session::{SessionConfig, Timestamp, TokenSet};
    let store = std::sync::Arc::new(MemoryStore::new());
    let manager = SessionConfig::new(store.clone())
        .build()
        .map_err(|e| e.to_string())?;
    let before = rss_kib()?;
    for i in 0..sessions {
        let tokens =
            TokenSet::new(token(i)).with_expires_in(Timestamp::now(), Duration::from_secs(3600));
        manager
            .create_session(&format!("user-{i}"), &tokens, None)
            .await
            .map_err(|e| e.to_string())?;
    }
    let after = rss_kib()?;
    drop(manager);
    drop(store);
    Ok((before, after))
}

async fn tower_sessions(sessions: usize) -> Result<(u64, u64), String> {
    use tower_sessions::MemoryStore;
    use tower_sessions::cookie::time::{Duration as TimeDuration, OffsetDateTime};
    use tower_sessions::session::{Id, Record};
    use tower_sessions::session_store::SessionStore;
    let store = MemoryStore::default();
    let before = rss_kib()?;
    for i in 0..sessions {
        let mut data = HashMap::new();
        data.insert(
            "user".to_owned(),
            serde_json::Value::from(format!("user-{i}")),
        );
        data.insert("access_token".to_owned(), serde_json::Value::from(token(i)));
        let mut record = Record {
            id: Id::default(),
            data,
            expiry_date: OffsetDateTime::now_utc() + TimeDuration::hours(1),
        };
        store.create(&mut record).await.map_err(|e| e.to_string())?;
    }
    let after = rss_kib()?;
    drop(store);
    Ok((before, after))
}
