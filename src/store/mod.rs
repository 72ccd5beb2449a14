//! The state of the server behind one boundary, so handlers never see SQL and another
//! backend (PostgreSQL) can be added by implementing `Store`.

pub mod cache;
pub mod python_db;
pub mod sqlite;

use std::fmt;

use crate::oauth::{Client, Revocation, StoredToken};
use crate::registry::Service;

/// A storage failure. Handlers answer 503 for `Busy` and 500 for the rest.
#[derive(Debug)]
pub enum StoreError {
    /// The database stayed locked past the busy timeout.
    Busy,
    Other(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Busy => f.write_str("the database is busy"),
            StoreError::Other(m) => f.write_str(m),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A window into a listing.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub limit: Option<u64>,
    pub offset: u64,
}

impl Page {
    pub const ALL: Page = Page {
        limit: None,
        offset: 0,
    };
}

/// What `Store::import` added; the rest was there already and is left as it is.
#[derive(Debug, Default)]
pub struct Imported {
    pub services: Vec<String>,
    pub clients: Vec<String>,
}

/// Everything the server keeps. Every method that returns `Ok` after a write has made
/// that write durable.
pub trait Store: Send + Sync {
    /// Services in registration order.
    fn list_services(&self, page: Page) -> StoreResult<Vec<Service>>;
    fn get_service(&self, name: &str) -> StoreResult<Option<Service>>;
    /// Inserts the service, or updates the one with the same name.
    fn save_service(&self, service: &Service) -> StoreResult<()>;
    /// Inserts the service unless one has its name; whether it did.
    fn create_service(&self, service: &Service) -> StoreResult<bool>;
    /// Whether a service of that name existed.
    fn delete_service(&self, name: &str) -> StoreResult<bool>;
    /// How many services were removed.
    fn clear_services(&self) -> StoreResult<usize>;

    fn get_meta(&self, key: &str) -> StoreResult<Option<String>>;
    fn set_meta(&self, key: &str, value: &str) -> StoreResult<()>;

    fn create_client(&self, client: &Client) -> StoreResult<()>;
    fn get_client(&self, client_id: &str) -> StoreResult<Option<Client>>;
    /// Clients in creation order.
    fn list_clients(&self) -> StoreResult<Vec<Client>>;
    /// Deletes the client and its stored tokens, and records `revocation` for the JWTs
    /// it holds, all in one transaction. Whether the client existed.
    fn delete_client(&self, client_id: &str, revocation: &Revocation) -> StoreResult<bool>;
    /// Stores a random token, and drops some expired ones.
    fn save_token(&self, token: &StoredToken, now: u64) -> StoreResult<()>;
    fn get_token(&self, digest: &[u8]) -> StoreResult<Option<StoredToken>>;
    /// Whether a token with that digest existed.
    fn delete_token(&self, digest: &[u8]) -> StoreResult<bool>;
    fn add_revocation(&self, revocation: &Revocation) -> StoreResult<()>;
    /// The revocations still in force at `now`; the others are dropped.
    fn revocations(&self, now: u64) -> StoreResult<Vec<Revocation>>;
    /// Adds the services whose name and the clients whose id are not taken yet, all in
    /// one transaction, so an import is whole or not at all.
    fn import(&self, services: &[Service], clients: &[Client]) -> StoreResult<Imported>;
}
