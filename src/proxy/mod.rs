//! Forwarding to backends with ureq: the target URL, which headers cross, and the
//! shared agents. Bodies stream both ways; nothing here decides who may pass.

pub mod headers;
pub mod target;
mod transport;
pub mod upstream;
