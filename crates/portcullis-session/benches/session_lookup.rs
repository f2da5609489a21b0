//! Session lookup through `CookieLayer` + `TokenLookupLayer` on the memory store.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response, header};
use portcullis_cookie::CookieLayer;
use portcullis_session::store::MemoryStore;
use portcullis_session::{EncryptionKey, SessionConfig, Timestamp, TokenSet};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

const SESSIONS: usize = 100_000;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    for encrypted in [false, true] {
        let store = Arc::new(MemoryStore::new());
        let mut config = SessionConfig::new(store.clone());
        if encrypted {
            config = config.with_encryption_key(EncryptionKey::from_bytes([3; 32]));
        }
        let manager = config.build().unwrap();
        // Fill the store as logins would (sealed when encrypted).
        let mut cookies = Vec::with_capacity(SESSIONS);
        rt.block_on(async {
            for i in 0..SESSIONS {
                let tokens = TokenSet::new("a".repeat(900))
                    .with_refresh_token("r".repeat(64))
                    .with_access_expires_at(
                        Timestamp::now().saturating_add(Duration::from_secs(3600)),
                    );
                let (id, _) = manager
                    .create_session(&format!("user-{i}"), &tokens, None)
                    .await
                    .unwrap();
                cookies.push(format!("__Host-session={}", id.as_str()));
            }
        });
        let mut svc = ServiceBuilder::new()
            .layer(CookieLayer::new())
            .layer(portcullis_session::TokenLookupLayer::new(manager))
            .service(service_fn(|_req: Request<()>| async {
                Ok::<_, Infallible>(Response::new(()))
            }));
        let name = if encrypted {
            "lookup/memory/sealed"
        } else {
            "lookup/memory/plain"
        };
        let mut i = 0usize;
        c.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 7919) % SESSIONS;
                let req = Request::get("/")
                    .header(header::COOKIE, &cookies[i])
                    .body(())
                    .unwrap();
                rt.block_on(async {
                    let res = svc.ready().await.unwrap().call(req).await.unwrap();
                    assert!(res.status().is_success());
                });
            });
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
