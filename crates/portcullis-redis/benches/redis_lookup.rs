//! Session lookup against a real redis-server on 127.0.0.1 (started by the bench; skipped
//! with a message when `redis-server` is not installed).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::process::Command;
use std::sync::Arc;

use common::RedisServer;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::future::join_all;
use portcullis_redis::RedisStore;
use portcullis_session::conformance::sample_record;
use portcullis_session::store::SessionStore;
use portcullis_session::{SessionId, Timestamp};

fn redis_available() -> bool {
    let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned());
    Command::new(binary).arg("--version").output().is_ok()
}

fn lookup(c: &mut Criterion) {
    if !redis_available() {
        eprintln!(
            "redis-server not installed: skipping the Redis benchmarks (apt-get install -y redis-server)"
        );
        return;
    }
    let server = RedisServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (store, ids) = rt.block_on(async {
        let store = Arc::new(RedisStore::builder(&server.url()).build().unwrap());
        let mut ids = Vec::new();
        for i in 0..1000 {
            let record = sample_record(&format!("bench-user-{}", i % 100));
            store.create(&record).await.unwrap();
            ids.push(record.id_hash);
        }
        (store, ids)
    });
    let missing = SessionId::generate().unwrap().hash();

    let mut group = c.benchmark_group("redis_store");
    group.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    group.bench_function("load_hit", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 1) % ids.len();
            let store = Arc::clone(&store);
            let id = ids[i];
            async move { black_box(store.load(&id).await.unwrap().unwrap()) }
        });
    });
    group.bench_function("load_miss", |b| {
        b.to_async(&rt).iter(|| {
            let store = Arc::clone(&store);
            async move { black_box(store.load(&missing).await.unwrap()) }
        });
    });
    group.bench_function("touch", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 1) % ids.len();
            let store = Arc::clone(&store);
            let id = ids[i];
            async move {
                let now = Timestamp::now();
                black_box(
                    store
                        .touch(
                            &id,
                            now,
                            now.saturating_add(std::time::Duration::from_secs(3600)),
                        )
                        .await
                        .unwrap(),
                )
            }
        });
    });
    group.throughput(Throughput::Elements(64));
    group.bench_function("load_hit_64_concurrent", |b| {
        b.to_async(&rt).iter(|| {
            let store = Arc::clone(&store);
            let batch: Vec<_> = (0..64).map(|k| ids[(i + k * 7) % ids.len()]).collect();
            async move {
                let loads = batch.iter().map(|id| store.load(id));
                black_box(join_all(loads).await)
            }
        });
    });
    group.finish();
    drop(store);
    drop(rt);
    drop(server);
}

criterion_group!(benches, lookup);
criterion_main!(benches);
