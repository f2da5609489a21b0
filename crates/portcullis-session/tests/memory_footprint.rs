//! Memory per session in `MemoryStore` at one million sessions. Ignored by default; run with
//! `cargo test -p portcullis-session --test memory_footprint -- --ignored --nocapture`.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout
)]

use std::sync::Arc;
use std::time::Duration;

use portcullis_session::store::{MemoryStore, SessionStore};
use portcullis_session::{EncryptionKey, SessionConfig, SessionManager, Timestamp, TokenSet};

const N: usize = 1_000_000;

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

async fn fill(manager: &SessionManager, tokens: &TokenSet) {
    for i in 0..N {
        manager
            .create_session(&format!("user-{:07}", i % (N / 2)), tokens, None)
            .await
            .unwrap();
    }
}

async fn measure(label: &str, encrypted: bool, tokens: TokenSet) {
    let store = Arc::new(MemoryStore::builder().max_sessions(2 * N as u64).build());
    let mut config = SessionConfig::new(store.clone());
    if encrypted {
        config = config.with_encryption_key(EncryptionKey::from_bytes([1; 32]));
    }
    let manager = config.build().unwrap();
    let before = rss_bytes();
    fill(&manager, &tokens).await;
    store.run_pending_tasks();
    let after = rss_bytes();
    assert_eq!(store.len(), N as u64);
    let per = (after - before) / N;
    println!(
        "{label}: RSS +{} MiB for {N} sessions = {per} bytes/session",
        (after - before) >> 20
    );
    // Keep the store alive until measured; a lookup to be sure it works.
    assert!(store.sessions_of("user-0000001").await.unwrap().len() == 2);
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "allocates ~1-3 GB; run explicitly"]
async fn small_tokens_plain() {
    let tokens = TokenSet::new("opaque-access-token-0123456789abcdef")
        .with_access_expires_at(Timestamp::now().saturating_add(Duration::from_secs(3600)));
    measure("small opaque tokens, plain", false, tokens).await;
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "allocates ~1-3 GB; run explicitly"]
async fn jwt_sized_tokens_sealed() {
    let tokens = TokenSet::new("a".repeat(900))
        .with_id_token("i".repeat(700))
        .with_refresh_token("r".repeat(64))
        .with_access_expires_at(Timestamp::now().saturating_add(Duration::from_secs(3600)));
    measure(
        "JWT-sized tokens (900 B access, 700 B id, 64 B refresh), sealed",
        true,
        tokens,
    )
    .await;
}
