//! The store conformance suite against `MemoryStore`.
#![allow(missing_docs)]

portcullis_session::store_conformance_tests!(memory, async {
    portcullis_session::store::MemoryStore::new()
});
