//! Cookie layer for portcullis (work in progress).
