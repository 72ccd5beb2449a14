//! Who may do what: the admin's HTTP Basic credentials and password hashing, OAuth2
//! client secrets, and the access tokens of every kind.

pub mod admin;
pub mod bearer;
pub mod password;
pub mod secrets;
pub mod tokens;
