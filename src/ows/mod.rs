//! OGC Web Services on the wire: what a request asks for, who may ask it, the
//! ExceptionReport errors, backend URLs rewritten in XML responses, and what a
//! capabilities answer offers.

pub mod capabilities;
pub mod exception;
pub mod operation;
pub mod policy;
pub mod request;
pub mod rewrite;
pub mod xml_body;
