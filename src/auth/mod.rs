//! Who may do what: the admin's HTTP Basic credentials and password hashing.

pub mod admin;
pub mod password;
