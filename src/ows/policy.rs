//! Who may reach a service: the access decision, apart from HTTP so every combination
//! is testable.

use crate::auth::bearer::Denied;

/// The scope that opens protected OWS operations and data.
pub const COMPUTE_SCOPE: &str = "compute";

/// A service's `auth`, as Twitcher reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceAuth {
    /// `token` (the default): protected requests need a token with scope `compute`.
    Token,
    /// `cert`: protected requests need a client certificate verified by a trusted front proxy.
    Cert,
    /// Anything else: everyone may do everything.
    Public,
}

impl ServiceAuth {
    /// Unlike the original, `Token` or `CERT` protect too: a capital letter must not
    /// open a service.
    pub fn of(auth: &str) -> ServiceAuth {
        if auth.eq_ignore_ascii_case("token") {
            ServiceAuth::Token
        } else if auth.eq_ignore_ascii_case("cert") {
            ServiceAuth::Cert
        } else {
            ServiceAuth::Public
        }
    }
}

/// What a request is, for the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// A capabilities or description operation at the service's own URL.
    PublicOperation,
    /// Any other operation, or data under the service (output files, a path below it).
    Protected,
}

/// Why access was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Token(Denied),
    /// A `cert` service without a verified client certificate.
    Certificate,
}

impl Refusal {
    pub fn status(self) -> u16 {
        match self {
            Refusal::Token(d) => d.status(),
            Refusal::Certificate => 403,
        }
    }
}

/// The decision. `cert_verified` is whether a trusted front proxy vouched for a client
/// certificate; `token` checks the request's bearer token for a scope, and is only
/// called when a token decides.
pub fn decide(
    security: bool,
    auth: ServiceAuth,
    class: Class,
    cert_verified: bool,
    token: impl FnOnce(&str) -> Result<(), Denied>,
) -> Result<(), Refusal> {
    if !security || auth == ServiceAuth::Public || class == Class::PublicOperation {
        return Ok(());
    }
    match auth {
        ServiceAuth::Cert if cert_verified => Ok(()),
        ServiceAuth::Cert => Err(Refusal::Certificate),
        _ => token(COMPUTE_SCOPE).map_err(Refusal::Token),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_combination() {
        use Class::*;
        use ServiceAuth::*;
        let valid = |s: &str| {
            if s == COMPUTE_SCOPE {
                Ok(())
            } else {
                Err(Denied::InsufficientScope)
            }
        };
        let wrong_scope = |_: &str| Err(Denied::InsufficientScope);
        let missing = |_: &str| Err(Denied::Missing);
        let never = |_: &str| -> Result<(), Denied> { panic!("the token must not decide") };
        for security in [true, false] {
            for auth in [Token, Cert, Public] {
                for class in [PublicOperation, Protected] {
                    for cert in [true, false] {
                        let open = !security || auth == Public || class == PublicOperation;
                        let got = match (open, auth) {
                            (true, _) => decide(security, auth, class, cert, never),
                            (false, Token) => decide(security, auth, class, cert, valid),
                            (false, _) => decide(security, auth, class, cert, never),
                        };
                        let want = match (open, auth) {
                            (true, _) | (false, Token) => Ok(()),
                            (false, Cert) if cert => Ok(()),
                            _ => Err(Refusal::Certificate),
                        };
                        assert_eq!(got, want, "{security} {auth:?} {class:?} {cert}");
                    }
                }
            }
        }
        assert_eq!(
            decide(true, Token, Protected, true, wrong_scope),
            Err(Refusal::Token(Denied::InsufficientScope))
        );
        assert_eq!(
            decide(true, Token, Protected, true, missing)
                .unwrap_err()
                .status(),
            401
        );
        assert_eq!(ServiceAuth::of("public"), Public);
        assert_eq!(ServiceAuth::of("anything"), Public);
        assert_eq!(ServiceAuth::of("cert"), Cert);
    }
}
