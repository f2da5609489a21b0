//! `Portcullis::builder()` refuses configurations that cannot work, at build time, with a
//! message that says what to fix.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use portcullis::Portcullis;

#[tokio::test]
async fn configuration_mistakes_are_build_errors_that_say_what_to_fix() {
    let err = Portcullis::builder().audience("api").build().unwrap_err();
    assert_eq!(err.setting(), "portcullis.issuer");
    assert!(err.message().contains(".issuer(url)"), "{err}");

    let err = Portcullis::builder()
        .issuer("https://idp.example")
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "portcullis.audience");
    assert!(err.message().contains(".audience(name)"), "{err}");

    let err = Portcullis::builder()
        .issuer("https://idp.example")
        .audience("api")
        .insecure_allow_http()
        .session_cookie_name("__Host-session")
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "portcullis.session_cookie_name");
    assert!(err.message().contains("Secure"), "{err}");

    // Plain HTTP to a non-loopback issuer is refused even with the development opt-in.
    let err = Portcullis::builder()
        .issuer("http://idp.example")
        .audience("api")
        .insecure_allow_http()
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("jwks"), "{err}");
    // And plain HTTP to any issuer without it.
    assert!(
        Portcullis::builder()
            .issuer("http://127.0.0.1:1")
            .audience("api")
            .build()
            .is_err()
    );

    let err = Portcullis::builder()
        .issuer("not a url")
        .audience("api")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("URL"), "{err}");

    // A valid configuration builds (the IdP need not be reachable yet: keys are fetched in
    // the background and requests get 503 until they arrive).
    let stack = Portcullis::builder()
        .issuer("http://127.0.0.1:1")
        .audience("api")
        .insecure_allow_http()
        .build()
        .unwrap();
    assert!(format!("{stack:?}").contains("Portcullis"));
}
