//! Cache-Control layer for portcullis (work in progress).
