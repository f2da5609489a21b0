//! Redis session store for portcullis (work in progress).
