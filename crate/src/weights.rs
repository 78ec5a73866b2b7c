//! Weights on disk and over the wire: burnpack bytes plus a JSON manifest.
