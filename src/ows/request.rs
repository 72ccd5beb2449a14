//! What an OWS request asks for: service type, operation and version, from key/value
//! parameters (GET, or a form body) or from the root element of an XML body.

use std::borrow::Cow;

use super::exception::{OwsError, clip};
use super::operation::ServiceType;
use super::xml_body::Root;

/// A parsed OWS request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwsRequest {
    pub service: ServiceType,
    /// Canonical name, e.g. `GetCapabilities`.
    pub operation: &'static str,
    pub version: Option<String>,
    /// The request named its service (a `service` parameter or attribute) rather than
    /// leaving it to the registered type.
    pub named: bool,
    /// It came as an XML document.
    pub xml: bool,
}

impl OwsRequest {
    /// A capabilities or description operation that every backend answers as one.
    /// MapServer renders maps (its CGI mode, with the map file's `WEB TEMPLATE`) for
    /// any request its OWS dispatch does not claim: one without `SERVICE`, with a padded
    /// one, or a WMS or WMTS document, which those standards take by KVP only. Such
    /// requests need a token.
    pub fn is_public(&self) -> bool {
        self.named
            && self.service.is_public(self.operation)
            && !(self.xml && matches!(self.service, ServiceType::Wms | ServiceType::Wmts))
    }
}

/// The registered type of a service, as a default and a constraint for its requests.
#[derive(Debug, Clone, Copy)]
pub enum Registered {
    /// One of the OWS types: requests may leave `service` out, and may not ask another.
    Type(ServiceType),
    /// Something else (e.g. a server with several OWS endpoints): requests name theirs.
    Other,
}

impl Registered {
    pub fn of(kind: &str) -> Registered {
        ServiceType::parse(kind).map_or(Registered::Other, Registered::Type)
    }
}

/// Whether a parameter's name is `name` in any case. Backends in Java fold case with
/// `String.toUpperCase()`, under which `REQUEſT` (long s) and `servıce` (dotless i)
/// are `REQUEST` and `SERVICE`, or compare with `equalsIgnoreCase`, under which
/// `servİce` (dotted capital I) is `service`; such names count as the parameter too,
/// or a second `request` could pass unseen and decide the operation at the backend
/// (`single` then refuses them: to other backends they are no parameter at all).
fn is_param(key: &str, name: &str) -> bool {
    key.eq_ignore_ascii_case(name)
        || (!key.is_ascii()
            && (key.to_uppercase() == name.to_uppercase()
                || key.to_lowercase() == name.to_lowercase()
                || java_equals_ignore_case(key, name)))
}

/// Java's `String.equalsIgnoreCase`: character by character, equal when the
/// characters are, or their upper cases, or the lower cases of those (one-character
/// mappings; of a longer one the first character, which is what Java's simple
/// mapping gives for `İ`).
fn java_equals_ignore_case(a: &str, b: &str) -> bool {
    let upper = |c: char| c.to_uppercase().next().unwrap_or(c);
    let lower = |c: char| c.to_lowercase().next().unwrap_or(c);
    a.chars().count() == b.chars().count()
        && a.chars()
            .zip(b.chars())
            .all(|(x, y)| x == y || upper(x) == upper(y) || lower(upper(x)) == lower(upper(y)))
}

/// Whether key/value parameters carry an OWS request at all.
fn has_ows_params<K: AsRef<str>, V>(pairs: &[(K, V)]) -> bool {
    pairs.iter().any(|(k, _)| {
        let k = k.as_ref();
        is_param(k, "service") || is_param(k, "request")
    })
}

/// The one value of a parameter, named in any case; the same name twice with
/// different values is refused, since the backend might read the other one. A name
/// that only Unicode case folding makes this one (`ſervice`, `servıce`, `servİce`) is
/// refused too: it is the parameter to a Java backend and none at all to MapServer
/// (`strcasecmp`) or PyWPS (`str.lower`), so it could name a service those never see,
/// and a request their OWS dispatch does not claim falls to MapServer's CGI mode, which
/// draws the map.
fn single<'a, K: AsRef<str>, V: AsRef<str>>(
    pairs: &'a [(K, V)],
    name: &str,
) -> Result<Option<&'a str>, OwsError> {
    let mut found: Option<&str> = None;
    for (k, v) in pairs {
        let v = v.as_ref();
        let k = k.as_ref();
        if is_param(k, name) {
            if !k.is_ascii() {
                return Err(OwsError::invalid(
                    name,
                    format!("Parameter \"{name}\" may not be spelt with letters outside ASCII"),
                ));
            }
            match found {
                Some(prev) if !prev.eq_ignore_ascii_case(v) => {
                    return Err(OwsError::invalid(
                        name,
                        format!("Parameter \"{name}\" is given more than once"),
                    ));
                }
                _ => found = Some(v),
            }
        }
    }
    Ok(found)
}

/// The service type, and whether the request named it.
fn service_type(
    given: Option<&str>,
    registered: Registered,
) -> Result<(ServiceType, bool), OwsError> {
    match (given.filter(|s| !s.is_empty()), registered) {
        (None, Registered::Type(t)) => Ok((t, false)),
        (None, Registered::Other) => Err(OwsError::missing("service")),
        // MapServer compares it as sent, and takes ` WMS` for no service it knows.
        (Some(s), _) if s.trim() != s => Err(OwsError::invalid(
            "service",
            format!("service {:?} has blanks around it", clip(s.trim())),
        )),
        (Some(s), reg) => {
            let t = ServiceType::parse(s).ok_or_else(|| {
                OwsError::invalid(
                    "service",
                    format!("service {} is not supported", clip(s).to_lowercase()),
                )
            })?;
            match reg {
                Registered::Type(r) if r != t => Err(OwsError::invalid(
                    "service",
                    format!(
                        "service {} is not supported by this {} service",
                        t.name(),
                        r.name()
                    ),
                )),
                _ => Ok((t, true)),
            }
        }
    }
}

fn operation(service: ServiceType, given: Option<&str>) -> Result<&'static str, OwsError> {
    let name = given
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| OwsError::missing("request"))?;
    // MapProxy and MapServer compare it as sent: to them `GetCapabilities ` is no
    // request, and MapProxy answers that with an error image as large as asked for.
    if name.trim() != name {
        return Err(OwsError::invalid(
            "request",
            format!("request {:?} has blanks around it", clip(name.trim())),
        ));
    }
    service
        .operation(name)
        .ok_or_else(|| OwsError::not_supported(clip(name).to_lowercase()))
}

fn version(
    service: ServiceType,
    operation: &str,
    given: Option<&str>,
) -> Result<Option<String>, OwsError> {
    match given.map(str::trim).filter(|v| !v.is_empty()) {
        // A server negotiates the version of its capabilities (WMS 1.3.0 §6.2.4, OWS
        // Common §7.3.2): GeoServer answers `1.1` with 1.1.0.
        Some(v) if service.supports_version(v) || operation == "GetCapabilities" => {
            Ok(Some(v.to_string()))
        }
        Some(v) => Err(OwsError::invalid(
            "version",
            format!(
                "version {} is not supported (supported: {})",
                clip(v),
                service.versions().join(", ")
            ),
        )),
        None if service.needs_version(operation) => Err(OwsError::missing("version")),
        None => Ok(None),
    }
}

/// What key/value parameters (a query or a form) ask of a backend.
pub struct Kvp {
    /// The OWS request they carry, if any.
    pub request: Option<OwsRequest>,
    /// A parameter makes the backend leave OWS dispatch (see `leaves_ows_dispatch`).
    pub off_dispatch: bool,
}

/// Reads key/value parameters, refusing names no backend should see (`check_names`).
pub fn read_kvp<K: AsRef<str>, V: AsRef<str>>(
    pairs: &[(K, V)],
    registered: Registered,
) -> Result<Kvp, OwsError> {
    check_names(pairs)?;
    let request = if has_ows_params(pairs) {
        Some(from_kvp(pairs, registered)?)
    } else {
        None
    };
    Ok(Kvp {
        request,
        off_dispatch: leaves_ows_dispatch(pairs),
    })
}

/// Parses key/value parameters that carry an OWS request (`has_ows_params`).
fn from_kvp<K: AsRef<str>, V: AsRef<str>>(
    pairs: &[(K, V)],
    registered: Registered,
) -> Result<OwsRequest, OwsError> {
    let (service, named) = service_type(single(pairs, "service")?, registered)?;
    let operation = operation(service, single(pairs, "request")?)?;
    let version = version(service, operation, single(pairs, "version")?)?;
    Ok(OwsRequest {
        service,
        operation,
        version,
        named,
        xml: false,
    })
}

/// A decoded parameter name holding `=`, `&`, `#` or a control character is refused.
/// MapServer decodes a pair before it splits name from value, so `request%3DGetMap` is
/// a second `request` there, and C code reads `request%00x` as `request`. MapCache,
/// forwarding a request to another server, writes names out decoded, so `x%26request`
/// arrives there as a parameter `x` and a second `request`. Any of these could decide
/// the operation unseen.
fn check_names<K: AsRef<str>, V>(pairs: &[(K, V)]) -> Result<(), OwsError> {
    // The locator is escaped where it is written, control characters included.
    match pairs
        .iter()
        .map(|(k, _)| k.as_ref())
        .find(|k| k.contains(['=', '&', '#']) || k.chars().any(char::is_control))
    {
        Some(k) => Err(OwsError::invalid(
            &clip(k),
            "A parameter name may not hold an encoded \"=\", \"&\", \"#\" or control character",
        )),
        None => Ok(()),
    }
}

/// Whether key/value parameters ask a backend for more than the OWS operation:
/// MapServer renders maps, tiles, legends and queries for any `mode` but `ows` and
/// `wfs` (and for all of them unless its map file restricts the modes), whatever
/// `request` says, and loads a `context` (a Web Map Context file on the server, or a
/// URL) into the map before dispatch, so its capabilities would show what the file
/// holds. Rails, Laravel and Symfony take a `_method` parameter for the request's
/// method, so a POST can be a DELETE to them. Such a request is no public operation.
fn leaves_ows_dispatch<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> bool {
    pairs
        .iter()
        .any(|(k, v)| leaves_dispatch(k.as_ref(), v.as_ref()))
}

/// One parameter of those `leaves_ows_dispatch` looks for.
fn leaves_dispatch(name: &str, value: &str) -> bool {
    let leaving_mode = || {
        !["ows", "wfs"]
            .iter()
            .any(|m| value.trim().eq_ignore_ascii_case(m))
    };
    (is_param(name, "mode") && leaving_mode())
        || is_param(name, "context")
        || (is_param(&php_name(name), "_method") && !reads_like_ows(value))
}

/// A parameter name as PHP stores it: leading spaces dropped, and `.`, spaces and `[`
/// made `_` (`.method` is `_method` to Laravel and Symfony).
fn php_name(name: &str) -> Cow<'_, str> {
    let name = name.trim_start_matches(' ');
    if name.contains(['.', ' ', '[']) {
        Cow::Owned(name.replace(['.', ' ', '['], "_"))
    } else {
        Cow::Borrowed(name)
    }
}

/// A method OWS reads with, as a method override names it.
pub fn reads_like_ows(method: &str) -> bool {
    ["GET", "HEAD", "OPTIONS", "POST"]
        .iter()
        .any(|m| method.trim().eq_ignore_ascii_case(m))
}

/// Whether `Cookie` header values carry a parameter that decides the operation:
/// `service`, `request`, a `mode` that leaves OWS dispatch, or a `context`. MapServer reads
/// cookies as parameters after the query (the last `request` wins), each pair decoded
/// (`+`, `%XX`) before it is split at `=` and cut at a NUL, as here.
pub fn cookies_carry_params<'a>(values: impl Iterator<Item = &'a str>) -> bool {
    values.flat_map(|v| v.split(';')).any(|pair| {
        let plus = if pair.contains('+') {
            Cow::Owned(pair.replace('+', " "))
        } else {
            Cow::Borrowed(pair)
        };
        let decoded = percent_encoding::percent_decode_str(&plus).decode_utf8_lossy();
        let decoded = decoded.split('\0').next().unwrap_or("");
        let (name, value) = decoded.split_once('=').unwrap_or((decoded, ""));
        let name = name.trim();
        is_param(name, "service") || is_param(name, "request") || leaves_dispatch(name, value)
    })
}

/// The request of an XML body: the root element names the operation, its `service`
/// and `version` attributes the rest. QGIS Server takes every attribute of the root
/// for a parameter, and a `request` attribute over the element's name, so one that
/// names another operation is refused.
pub fn from_xml(root: &Root, registered: Registered) -> Result<OwsRequest, OwsError> {
    let attributes = &root.attributes;
    let (service, named) = service_type(single(attributes, "service")?, registered)?;
    let operation = operation(service, Some(&root.name))?;
    if let Some(asked) = single(attributes, "request")?
        && service.operation(asked) != Some(operation)
    {
        return Err(OwsError::invalid(
            "request",
            format!(
                "The request attribute ({}) names another operation than the root element",
                clip(asked)
            ),
        ));
    }
    let version = version(service, operation, single(attributes, "version")?)?;
    Ok(OwsRequest {
        service,
        operation,
        version,
        named,
        xml: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ows::exception::ExceptionCode;
    use crate::ows::xml_body::XmlBody;

    fn kvp(pairs: &[(&str, &str)], reg: Registered) -> Result<OwsRequest, OwsError> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert!(has_ows_params(&owned) || pairs.is_empty());
        from_kvp(&owned, reg)
    }

    fn xml(body: &str, reg: Registered) -> Result<OwsRequest, OwsError> {
        let root = XmlBody::new(body.as_bytes()).root().expect("well-formed");
        from_xml(&root, reg)
    }

    const ANY: Registered = Registered::Other;
    const WPS: Registered = Registered::Type(ServiceType::Wps);
    const WMS: Registered = Registered::Type(ServiceType::Wms);

    fn err(r: Result<OwsRequest, OwsError>) -> (ExceptionCode, String) {
        let e = r.unwrap_err();
        (e.code, e.locator)
    }

    // The parsing cases of Twitcher's tests/test_owsrequest_wps.py, GET and POST.
    #[test]
    fn wps_get() {
        let r = kvp(&[("request", "GetCapabilities"), ("service", "WPS")], ANY).unwrap();
        assert_eq!(
            (r.service, r.operation),
            (ServiceType::Wps, "GetCapabilities")
        );
        let r = kvp(
            &[
                ("request", "DescribeProcess"),
                ("service", "wps"),
                ("version", "1.0.0"),
            ],
            ANY,
        )
        .unwrap();
        assert_eq!(r.operation, "DescribeProcess");
        assert_eq!(r.version.as_deref(), Some("1.0.0"));
        let r = kvp(
            &[
                ("request", "execute"),
                ("service", "Wps"),
                ("version", "1.0.0"),
            ],
            ANY,
        )
        .unwrap();
        assert_eq!(r.operation, "Execute");
        assert_eq!(
            err(kvp(
                &[
                    ("request", "tellmemore"),
                    ("service", "Wps"),
                    ("version", "1.0.0")
                ],
                ANY
            )),
            (ExceptionCode::OperationNotSupported, "request".into())
        );
        assert_eq!(
            err(kvp(&[("service", "wps"), ("version", "1.0.0")], ANY)),
            (ExceptionCode::MissingParameterValue, "request".into())
        );
        assert_eq!(
            err(kvp(
                &[
                    ("request", "execute"),
                    ("service", "ATM"),
                    ("version", "1.0.0")
                ],
                ANY
            )),
            (ExceptionCode::InvalidParameterValue, "service".into())
        );
        assert_eq!(
            err(kvp(&[("request", "Execute"), ("version", "1.0.0")], ANY)),
            (ExceptionCode::MissingParameterValue, "service".into())
        );
    }

    #[test]
    fn wps_post() {
        let r = xml(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
        <GetCapabilities service="WPS" acceptVersions="1.0.0" language="en-CA"/>"#,
            ANY,
        )
        .unwrap();
        assert_eq!(
            (r.service, r.operation),
            (ServiceType::Wps, "GetCapabilities")
        );
        assert_eq!(
            err(xml(
                r#"<MyCaps service="WPS" acceptVersions="1.0.0"/>"#,
                ANY
            )),
            (ExceptionCode::OperationNotSupported, "request".into())
        );
        assert_eq!(
            err(xml(
                r#"<GetCapabilities service="ATM" acceptVersions="1.0.0"/>"#,
                ANY
            )),
            (ExceptionCode::InvalidParameterValue, "service".into())
        );
        let r = xml(
            r#"<DescribeProcess service="WPS" version="1.0.0" language="en" xmlns:ows="http://www.opengis.net/ows/1.1">
          <ows:Identifier>intersection</ows:Identifier>
          <ows:Identifier>union</ows:Identifier>
        </DescribeProcess>"#,
            ANY,
        )
        .unwrap();
        assert_eq!(r.operation, "DescribeProcess");
        let r = xml(
            r#"<wps:Execute service="WPS" version="1.0.0"
            xmlns:wps="http://www.opengis.net/wps/1.0.0" xmlns:ows="http://www.opengis.net/ows/1.1">
    <ows:Identifier>Buffer</ows:Identifier></wps:Execute>"#,
            ANY,
        )
        .unwrap();
        assert_eq!(
            (r.operation, r.version.as_deref()),
            ("Execute", Some("1.0.0"))
        );
        assert_eq!(
            err(xml(r#"<wps:Execute xmlns:wps="x" service="WPS"/>"#, ANY)),
            (ExceptionCode::MissingParameterValue, "version".into())
        );
    }

    // The cases of Twitcher's tests/test_owsrequest_wms.py.
    #[test]
    fn wms_get() {
        let r = kvp(
            &[
                ("request", "GetCapabilities"),
                ("service", "WMS"),
                ("version", "1.1.1"),
            ],
            ANY,
        )
        .unwrap();
        assert_eq!(
            (r.service, r.operation),
            (ServiceType::Wms, "GetCapabilities")
        );
        assert!(r.service.is_public(r.operation));
        let r = kvp(
            &[
                ("REQUEST", "getcapabilities"),
                ("SERVICE", "WMS"),
                ("VERSION", "1.3.0"),
            ],
            ANY,
        )
        .unwrap();
        assert_eq!(r.version.as_deref(), Some("1.3.0"));
        assert_eq!(
            err(kvp(
                &[
                    ("REQUEST", "givememore"),
                    ("SERVICE", "WMS"),
                    ("VERSION", "1.3.0")
                ],
                ANY
            )),
            (ExceptionCode::OperationNotSupported, "request".into())
        );
        let r = kvp(
            &[
                ("REQUEST", "GetMetadata"),
                ("SERVICE", "WMS"),
                ("VERSION", "1.3.0"),
            ],
            ANY,
        )
        .unwrap();
        assert_eq!(r.operation, "GetMetadata");
    }

    #[test]
    fn registered_type_fills_in_and_constrains_service() {
        let r = kvp(&[("REQUEST", "GetMap"), ("VERSION", "1.3.0")], WMS).unwrap();
        assert_eq!((r.service, r.operation), (ServiceType::Wms, "GetMap"));
        assert_eq!(
            err(kvp(
                &[("service", "WFS"), ("request", "GetCapabilities")],
                WPS
            )),
            (ExceptionCode::InvalidParameterValue, "service".into())
        );
        let r = kvp(
            &[
                ("service", "WFS"),
                ("request", "GetFeature"),
                ("version", "2.0.0"),
            ],
            ANY,
        )
        .unwrap();
        assert!(!r.service.is_public(r.operation));
        assert_eq!(
            err(kvp(
                &[
                    ("service", "WPS"),
                    ("request", "Execute"),
                    ("version", "9.9")
                ],
                ANY
            )),
            (ExceptionCode::InvalidParameterValue, "version".into())
        );
    }

    #[test]
    fn blanks_around_service_or_request_are_refused() {
        for padded in [
            " GetCapabilities",
            "GetCapabilities ",
            "GetCapabilities\u{a0}",
            "\tGetMap",
        ] {
            assert_eq!(
                err(kvp(&[("service", "WMS"), ("request", padded)], ANY)),
                (ExceptionCode::InvalidParameterValue, "request".into()),
                "{padded:?}"
            );
        }
        assert_eq!(
            err(kvp(
                &[("service", "WMS "), ("request", "GetCapabilities")],
                ANY
            )),
            (ExceptionCode::InvalidParameterValue, "service".into())
        );
        assert_eq!(
            err(kvp(&[("service", "WMS"), ("request", "  ")], ANY)),
            (ExceptionCode::MissingParameterValue, "request".into())
        );
    }

    #[test]
    fn a_parameter_given_twice_with_different_values_is_refused() {
        assert_eq!(
            err(kvp(
                &[
                    ("service", "WPS"),
                    ("request", "GetCapabilities"),
                    ("REQUEST", "Execute")
                ],
                ANY
            )),
            (ExceptionCode::InvalidParameterValue, "request".into())
        );
        assert!(
            kvp(
                &[
                    ("service", "WPS"),
                    ("request", "GetCapabilities"),
                    ("Request", "getcapabilities")
                ],
                ANY
            )
            .is_ok()
        );
    }

    /// Java's `toUpperCase()` makes `REQUEſT` into `REQUEST`, a second request that
    /// would decide the operation at a GeoServer; MapServer and PyWPS see no parameter
    /// at all there. Either way the backend would read something else than was judged.
    #[test]
    fn names_that_fold_to_a_parameter_are_refused() {
        assert_eq!(
            err(kvp(
                &[
                    ("service", "WFS"),
                    ("request", "GetCapabilities"),
                    ("REQUE\u{17f}T", "GetFeature")
                ],
                ANY
            )),
            (ExceptionCode::InvalidParameterValue, "request".into())
        );
        // Alone, `ſervice` would name a service MapServer never sees, which it needs
        // to dispatch a GetCapabilities rather than draw a map.
        assert_eq!(
            err(kvp(
                &[
                    ("\u{17f}ervice", "WMS"),
                    ("request", "GetCapabilities"),
                    ("mapext", "-5 -5 5 5")
                ],
                WMS
            )),
            (ExceptionCode::InvalidParameterValue, "service".into())
        );
        assert_eq!(
            err(kvp(
                &[("service", "WPS"), ("reque\u{17f}t", "GetCapabilities")],
                WPS
            )),
            (ExceptionCode::InvalidParameterValue, "request".into())
        );
        assert_eq!(
            err(xml(
                "<GetCapabilities \u{17f}ervice=\"WFS\" version=\"1.1.0\"/>",
                ANY
            )),
            (ExceptionCode::InvalidParameterValue, "service".into())
        );
        assert_eq!(
            err(xml(
                "<GetCapabilities service=\"WPS\" vers\u{131}on=\"1.0.0\"/>",
                ANY
            )),
            (ExceptionCode::InvalidParameterValue, "version".into())
        );
        // Java's equalsIgnoreCase takes `servİce` (dotted capital I) for `service`.
        assert_eq!(
            err(kvp(
                &[
                    ("service", "WPS"),
                    ("request", "GetCapabilities"),
                    ("serv\u{130}ce", "WMS")
                ],
                ANY
            )),
            (ExceptionCode::InvalidParameterValue, "service".into())
        );
        // Other letters are other names: `sérvice` does not ask for another service.
        assert!(
            kvp(
                &[("s\u{e9}rvice", "WFS"), ("request", "GetCapabilities")],
                WPS
            )
            .is_ok()
        );
    }
}
