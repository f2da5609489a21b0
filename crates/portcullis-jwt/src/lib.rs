//! JWT validation for portcullis (work in progress).
