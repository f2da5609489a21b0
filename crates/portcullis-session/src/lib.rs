//! Server-side sessions for portcullis (work in progress).
