//! OGC Web Services on the wire: what a request asks for, who may ask it, the
//! ExceptionReport errors, and backend URLs rewritten in XML responses.

pub mod exception;
pub mod operation;
pub mod policy;
pub mod request;
pub mod rewrite;
pub mod xml_body;
