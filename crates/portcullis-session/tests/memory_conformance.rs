//! The store conformance suite against `MemoryStore`.
#![allow(missing_docs)]

portcullis_session::store_conformance_tests!(memory, async {
    portcullis_session::store::MemoryStore::new()
});

// The same suite with the per-thread front off, and with a single slot shared by every key
// (each lookup evicts the last one's slot): the front changes speed, never answers.
mod without_front {
    portcullis_session::store_conformance_tests!(memory, async {
        portcullis_session::store::MemoryStore::builder()
            .thread_front_slots(0)
            .build()
    });
}

mod one_front_slot {
    portcullis_session::store_conformance_tests!(memory, async {
        portcullis_session::store::MemoryStore::builder()
            .thread_front_slots(1)
            .build()
    });
}
