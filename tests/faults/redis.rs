//! Redis killed and restarted during a bounded load run: requests fail closed (503) while it
//! is down, recover without restarting the app, and no session created before is lost.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Instant;

use http::Method;
use http::header::{COOKIE, SET_COOKIE, USER_AGENT};
use portcullis_redis::RedisStore;

use super::hardening::{Http, Issuer, set_cookie_pair};
use super::redis_server::RedisServer;
use super::*;

const SESSIONS: usize = 20;

async fn login(http: &Http, sub: &str) -> http::Response<bytes::Bytes> {
    http.send(
        http.req(Method::POST, &format!("/login?sub={sub}"))
            .header(USER_AGENT, UA),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_under_load_fails_closed_and_loses_no_session() {
    let mut redis = RedisServer::start_persistent();
    let store = RedisStore::builder(&redis.url())
        .with_timeout(Duration::from_millis(300))
        .with_connect_timeout(Duration::from_millis(300))
        .with_reconnect_backoff(Duration::from_millis(50), Duration::from_millis(300))
        .build()
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let issuer = Arc::new(Issuer::new(format!("http://{addr}"), "k1"));
    let portcullis = builder(&issuer)
        .store(Arc::new(store))
        .configure_sessions(|c| {
            c.with_store_timeout(Duration::from_millis(500))
                // Every request writes (touch), so the outage hits reads and writes.
                .with_touch_interval(Duration::from_millis(1))
        })
        .build()
        .unwrap();
    serve(listener, router(portcullis.clone(), issuer.clone(), true));
    assert!(portcullis.validator().jwks().refresh_now().await);
    let mut http = Http::new(addr);
    http.allow_503 = true;

    // Sessions created before the outage.
    let mut cookies = Vec::new();
    for i in 0..SESSIONS {
        let res = login(&http, &format!("user{i}")).await;
        assert_eq!(res.status(), StatusCode::OK);
        cookies.push(set_cookie_pair(&res, COOKIE_NAME).unwrap());
    }

    // Load: one client cycling through the sessions until told to stop; each sample records
    // the phase (0 before, 1 down for the whole request, 2 restarting, 3 after), its status
    // and latency.
    let phase = Arc::new(AtomicU8::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (http, cookies, phase, stop) =
            (http.clone(), cookies.clone(), phase.clone(), stop.clone());
        tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut i = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let p = phase.load(Ordering::SeqCst);
                let t = Instant::now();
                let res = http
                    .send(
                        http.req(Method::GET, "/me")
                            .header(USER_AGENT, UA)
                            .header(COOKIE, cookies[i % SESSIONS].clone()),
                    )
                    .await;
                let cleared = res
                    .headers()
                    .get_all(SET_COOKIE)
                    .iter()
                    .any(|c| c.to_str().unwrap().contains("Max-Age=0"));
                // A request that saw Redis come back before it ended is not "down".
                let p = if p == 1 && phase.load(Ordering::SeqCst) != 1 {
                    2
                } else {
                    p
                };
                samples.push((p, res.status(), t.elapsed(), cleared, i % SESSIONS));
                i += 1;
            }
            samples
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Kill Redis (SIGKILL).
    redis.stop();
    phase.store(1, Ordering::SeqCst);
    // While it is down: logins fail closed too.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let res = login(&http, "during-outage").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    phase.store(2, Ordering::SeqCst);
    redis.start_here();
    phase.store(3, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    stop.store(true, Ordering::SeqCst);
    let samples = load.await.unwrap();

    let mut by_phase: [Vec<f64>; 4] = Default::default();
    let mut counts: [HashMap<u16, usize>; 4] = Default::default();
    for (p, status, latency, cleared, session) in &samples {
        let p = usize::from(*p);
        by_phase[p].push(latency.as_secs_f64() * 1000.0);
        *counts[p].entry(status.as_u16()).or_default() += 1;
        // Never "not logged in": a store outage is not a missing session.
        assert_ne!(
            *status,
            StatusCode::UNAUTHORIZED,
            "phase {p}: session {session} was refused"
        );
        assert!(
            !cleared,
            "phase {p}: session {session}'s cookie was cleared"
        );
        assert!(
            *status == StatusCode::OK || *status == StatusCode::SERVICE_UNAVAILABLE,
            "phase {p}: {status}"
        );
        if p == 1 {
            // Down: nobody is let in.
            assert_eq!(
                *status,
                StatusCode::SERVICE_UNAVAILABLE,
                "a request succeeded with Redis down"
            );
            assert!(
                *latency < Duration::from_millis(1500),
                "a request hung for {latency:?}"
            );
        }
    }
    for (p, name) in ["before", "down", "restarting", "after"].iter().enumerate() {
        println!(
            "redis outage, {name}: statuses {:?}, latency {}",
            counts[p],
            summary(&mut by_phase[p])
        );
    }
    assert!(
        counts[0].get(&200).copied().unwrap_or(0) > 10,
        "{:?}",
        counts[0]
    );
    assert!(
        counts[1].get(&503).copied().unwrap_or(0) > 3,
        "{:?}",
        counts[1]
    );
    // Recovered without restarting the app: the tail of the run is all 200.
    let tail: Vec<_> = samples.iter().rev().take(SESSIONS).collect();
    assert!(
        tail.iter().all(|s| s.1 == StatusCode::OK),
        "no recovery: {:?}",
        counts[3]
    );

    // No session created before the outage is lost.
    for (i, cookie) in cookies.iter().enumerate() {
        let res = http
            .send(
                http.req(Method::GET, "/me")
                    .header(USER_AGENT, UA)
                    .header(COOKIE, cookie.clone()),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK, "session {i} lost");
        assert_eq!(res.body(), format!("user{i}").as_str());
    }
    // New sessions work again.
    assert_eq!(login(&http, "after").await.status(), StatusCode::OK);
}
