//! The OpenAPI 3 document served at `/__api__`. A test checks it against the routing
//! table, so a route cannot be added without being documented.

use serde_json::{Value, json};

use super::front::VERSION;

fn err_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

fn ok_json(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

/// Responses every admin operation can give besides its own.
fn admin_responses(mut own: Value) -> Value {
    let map = own.as_object_mut().expect("responses are an object");
    map.insert(
        "401".into(),
        json!({"$ref": "#/components/responses/Unauthorized"}),
    );
    map.insert(
        "429".into(),
        json!({"$ref": "#/components/responses/TooManyPasswordChecks"}),
    );
    map.insert("503".into(), json!({"$ref": "#/components/responses/Busy"}));
    own
}

/// The registry: the admin's password, or a bearer token with scope `register`.
fn admin_security() -> Value {
    json!([{"basicAuth": []}, {"bearerAuth": []}])
}

/// The admin's password only.
fn password_security() -> Value {
    json!([{"basicAuth": []}])
}

/// A response of the OAuth endpoints: RFC 6749 §5.2 JSON, never cached.
fn oauth_err(description: &str) -> Value {
    json!({
        "description": description,
        "headers": {"Cache-Control": {"schema": {"type": "string", "enum": ["no-store"]}}},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OAuthError"}}}
    })
}

/// Client authentication of the OAuth endpoints, which are public routes: the client
/// proves itself inside the request.
const CLIENT_AUTH: &str = "The client authenticates with HTTP Basic (`client_id:client_secret`, RFC 6749 §2.3.1) or with `client_id` and `client_secret` parameters.";

fn oauth_paths() -> Value {
    let form = |schema: Value| {
        json!({
            "required": true,
            "content": {"application/x-www-form-urlencoded": {"schema": schema}}
        })
    };
    let token_params = json!({
        "type": "object",
        "required": ["grant_type"],
        "properties": {
            "grant_type": {"type": "string", "enum": ["client_credentials"]},
            "client_id": {"type": "string"},
            "client_secret": {"type": "string"},
            "scope": {"type": "string", "description": "Space-separated; a subset of the client's scopes. Default: all of them."}
        }
    });
    let token_query: Vec<Value> = ["grant_type", "client_id", "client_secret", "scope"]
        .iter()
        .map(|n| {
            let schema = if *n == "grant_type" {
                json!({"type": "string", "enum": ["client_credentials"]})
            } else {
                json!({"type": "string"})
            };
            json!({"name": n, "in": "query", "required": *n == "grant_type", "schema": schema})
        })
        .collect();
    let token_responses = json!({
        "200": {
            "description": "An access token",
            "headers": {"Cache-Control": {"schema": {"type": "string", "enum": ["no-store"]}}},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TokenResponse"}}}
        },
        "400": oauth_err("invalid_request, unsupported_grant_type or invalid_scope"),
        "401": oauth_err("invalid_client, with a `WWW-Authenticate: Basic` challenge"),
        "413": oauth_err("Body over 64 KiB")
    });
    let jwks = json!({
        "summary": "The public keys of signed_token (RFC 7517 JWKS)",
        "description": "Served at /oauth/jwks and /.well-known/jwks.json. The signing key first, then those of twitcher.token.retired_certfiles. Each token names its key in its `kid` header, the key's RFC 7638 thumbprint.",
        "tags": ["oauth"],
        "responses": {
            "200": {"description": "The key set", "content": {"application/json": {"schema": {"type": "object", "properties": {"keys": {"type": "array", "items": {"type": "object"}}}}}}},
            // Not one of RFC 6749's codes, so not the OAuthError schema.
            "404": {
                "description": "The token kind has no public key",
                "content": {"application/json": {"schema": {
                    "type": "object",
                    "required": ["error", "error_description"],
                    "properties": {
                        "error": {"type": "string", "enum": ["not_found"]},
                        "error_description": {"type": "string"}
                    }
                }}}
            }
        }
    });
    let token_form = json!({
        "type": "object",
        "required": ["token"],
        "properties": {
            "token": {"type": "string", "minLength": 1},
            "token_type_hint": {"type": "string", "description": "Accepted and not needed"},
            "client_id": {"type": "string"},
            "client_secret": {"type": "string"}
        }
    });
    let client_params: Vec<Value> = [
        ("name", "Client application name", json!({"type": "string", "maxLength": 200})),
        ("redirect_uri", "Redirect URI, kept for the record", json!({"type": "string", "maxLength": 2048, "pattern": "^[^\\x00-\\x1f\\x7f-\\x9f]*$"})),
        (
            "scope",
            "Space-separated scopes among compute and register. Default: compute",
            json!({"type": "string", "pattern": "^[ \\t]*((compute|register)([ \\t]+(compute|register))*)?[ \\t]*$"}),
        ),
    ]
    .iter()
    .map(|(n, d, schema)| json!({"name": n, "in": "query", "required": false, "description": d, "schema": schema}))
    .collect();
    let client_op = |summary: &str| {
        json!({
            "summary": summary,
            "description": "The answer is the only time the secret is shown; only its keyed digest is kept.",
            "tags": ["oauth"],
            "security": password_security(),
            "parameters": client_params,
            "responses": admin_responses(json!({
                "200": ok_json("The new client with its secret", json!({"$ref": "#/components/schemas/NewClient"})),
                "400": {"$ref": "#/components/responses/BadRequest"}
            }))
        })
    };
    json!({
        "/oauth/client": {
            "get": client_op("Register a client application"),
            "post": client_op("Register a client application (parameters in the query or a form body)")
        },
        "/oauth/clients": {"get": {
            "summary": "List client applications, without secrets",
            "tags": ["oauth"],
            "security": password_security(),
            "responses": admin_responses(json!({
                "200": ok_json("Clients in creation order", json!({"type": "array", "items": {"$ref": "#/components/schemas/Client"}}))
            }))
        }},
        "/oauth/clients/{client_id}": {
            "parameters": [{"name": "client_id", "in": "path", "required": true, "schema": {"type": "string"}}],
            "delete": {
                "summary": "Delete a client application and revoke its tokens",
                "tags": ["oauth"],
                "security": password_security(),
                "responses": admin_responses(json!({
                    "200": ok_json("Deleted", json!({"type": "boolean"})),
                    "404": {"$ref": "#/components/responses/NotFound"}
                }))
            }
        },
        "/oauth/token": {
            "get": {
                "summary": "Client-credentials grant (RFC 6749 §4.4), parameters in the query",
                "description": CLIENT_AUTH,
                "tags": ["oauth"],
                "parameters": token_query,
                "responses": token_responses.clone()
            },
            "post": {
                "summary": "Client-credentials grant (RFC 6749 §4.4), parameters in a form body",
                "description": CLIENT_AUTH,
                "tags": ["oauth"],
                "requestBody": form(token_params),
                "responses": token_responses
            }
        },
        "/oauth/revoke": {"post": {
            "summary": "Revoke a token (RFC 7009)",
            "description": format!("{CLIENT_AUTH} A client may revoke only its own tokens; the admin (HTTP Basic) any. Random tokens stop working at once; a JWT's `jti` is denied until it expires, across restarts. The answer is 200 also for a token that was already invalid."),
            "tags": ["oauth"],
            "requestBody": form(token_form.clone()),
            "responses": {
                "200": {"description": "Revoked, or nothing to revoke"},
                "400": oauth_err("invalid_request: no token, or another client's token"),
                "401": oauth_err("invalid_client")
            }
        }},
        "/oauth/jwks": {"get": jwks.clone()},
        "/.well-known/jwks.json": {"get": jwks},
        "/oauth/introspect": {"post": {
            "summary": "Introspect a token (RFC 7662)",
            "description": format!("{CLIENT_AUTH} The admin (HTTP Basic) may also ask."),
            "tags": ["oauth"],
            "requestBody": form(token_form),
            "responses": {
                "200": ok_json("Whether the token is active, and what it grants", json!({"$ref": "#/components/schemas/Introspection"})),
                "400": oauth_err("invalid_request: no token"),
                "401": oauth_err("invalid_client")
            }
        }}
    })
}

/// The proxy and verify endpoints under `prefix`.
fn ows_paths(prefix: &str) -> Value {
    let xml = |d: &str| json!({"description": d, "content": {"text/xml": {"schema": {"type": "string", "description": "OWS 1.1 ExceptionReport"}}}});
    let verdict = |d: &str| json!({"description": d, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Verdict"}}}});
    let proxy_op = json!({
        "summary": "Forward an OWS request to a registered service",
        "description": "Capabilities and description operations (WPS GetCapabilities and DescribeProcess; WMS, WFS, WCS and WMTS GetCapabilities; WFS DescribeFeatureType; WCS DescribeCoverage) pass without a token on the service's own URL. Every other operation, and any path below the service URL, needs a bearer token with scope `compute` (Authorization header, `access_token` parameter, or a form field) on `token` services, or a client certificate vouched for by a trusted front proxy on `cert` services. Other services are public. The request body streams to the backend, and the answer back; XML, JSON and HTML answers have the backend's URL rewritten to the proxy's.",
        "tags": ["ows"],
        "security": [{}, {"bearerAuth": []}],
        "responses": {
            "200": {"description": "The backend's answer, with its status and headers"},
            "400": xml("Missing or invalid OWS parameters, a bad path or a bad XML body"),
            "401": xml("A token is needed and is missing or invalid"),
            "403": xml("The token lacks the scope `compute`, or no verified client certificate"),
            "404": xml("No service of that name"),
            "413": xml("Request body over the size limit"),
            "501": xml("An operation the service type does not have"),
            "502": xml("The backend cannot be reached"),
            "504": xml("The backend did not answer in time")
        }
    });
    let verify_op = json!({
        "summary": "Decide, without forwarding, whether a request may pass (for nginx auth_request)",
        "description": "The same decision and status codes as the proxy, with Twitcher's JSON verdict. nginx's auth subrequest is a GET without body whatever the client sent: the client's method comes in `X-Original-Method` (or `X-Forwarded-Method`), and any but GET or HEAD means a body this endpoint cannot see, which needs a token on `token` services.",
        "tags": ["ows"],
        "security": [{}, {"bearerAuth": []}],
        "responses": {
            "200": verdict("Allowed"),
            "400": verdict("Missing or invalid OWS parameters"),
            "401": verdict("A token is needed and is missing or invalid"),
            "403": verdict("Insufficient scope or no verified client certificate"),
            "404": verdict("No service of that name"),
            "413": verdict("Request body over the size limit"),
            "501": verdict("An operation the service type does not have")
        }
    });
    let name = json!({"name": "service", "in": "path", "required": true, "description": "Registered service name", "schema": {"type": "string"}});
    let extra = json!({"name": "extra", "in": "path", "required": true, "description": "Path below the service URL, e.g. outputs/result.nc", "schema": {"type": "string"}});
    let methods = |op: &Value, params: Value| {
        let mut item = json!({"parameters": params});
        for m in crate::server::routes::OWS_METHODS {
            item[m.as_str().to_lowercase()] = op.clone();
        }
        item
    };
    json!({
        format!("{prefix}/proxy/{{service}}"): methods(&proxy_op, json!([name])),
        format!("{prefix}/proxy/{{service}}/{{extra}}"): methods(&proxy_op, json!([name, extra])),
        format!("{prefix}/verify/{{service}}"): methods(&verify_op, json!([name])),
        format!("{prefix}/verify/{{service}}/{{extra}}"): methods(&verify_op, json!([name, extra])),
    })
}

/// The document for the routes the server has; `ows_prefix` as for `routes::table`.
pub fn document(ows_prefix: Option<&str>) -> Value {
    let service_ref = json!({"$ref": "#/components/schemas/Service"});
    let mut doc = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Twitcher API",
            "version": VERSION,
            "description": "Security proxy for OGC Web Services: service registry, OAuth2 tokens and access control."
        },
        "paths": {
            "/": {"get": {
                "summary": "Links to the other endpoints",
                "tags": ["front"],
                "responses": {"200": ok_json("Front page", json!({"$ref": "#/components/schemas/FrontPage"}))}
            }},
            "/info": {"get": {
                "summary": "Package information",
                "tags": ["front"],
                "responses": {"200": ok_json("Package information", json!({
                    "type": "object",
                    "required": ["package", "version"],
                    "properties": {
                        "author": {"type": "string"}, "doc": {"type": "string"}, "email": {"type": "string"},
                        "package": {"type": "string"}, "version": {"type": "string"}
                    }
                }))}
            }},
            "/versions": {"get": {
                "summary": "Versions of the application and its adapter",
                "tags": ["front"],
                "responses": {"200": ok_json("Versions", json!({
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "version", "type"],
                        "properties": {"name": {"type": "string"}, "version": {"type": "string"}, "type": {"type": "string"}}
                    }
                }))}
            }},
            "/__api__": {"get": {
                "summary": "This OpenAPI document",
                "tags": ["front"],
                "responses": {"200": ok_json("OpenAPI 3 document", json!({"type": "object"}))}
            }},
            "/api-explorer": {"get": {
                "summary": "A page to browse and try this API",
                "tags": ["front"],
                "responses": {"200": {"description": "HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}}
            }},
            "/healthz": {"get": {
                "summary": "Liveness: the process answers",
                "tags": ["operations"],
                "responses": {"200": ok_json("Alive", json!({"$ref": "#/components/schemas/Health"}))}
            }},
            "/readyz": {"get": {
                "summary": "Readiness: the database answers too",
                "tags": ["operations"],
                "responses": {
                    "200": ok_json("Ready", json!({"$ref": "#/components/schemas/Health"})),
                    "503": ok_json("Not ready", json!({"$ref": "#/components/schemas/Health"}))
                }
            }},
            "/stats": {"get": {
                "summary": "Traffic since start: requests by status class, latency percentiles, requests per service",
                "description": "`latency_buckets` holds [upper bound in ms, count] pairs, so a poller can compute percentiles over its own interval from two snapshots.",
                "tags": ["operations"],
                "security": password_security(),
                "responses": admin_responses(json!({
                    "200": ok_json("Counters", json!({"$ref": "#/components/schemas/Stats"}))
                }))
            }},
            "/metrics": {"get": {
                "summary": "The traffic counters in the Prometheus text format",
                "tags": ["operations"],
                "security": password_security(),
                "responses": admin_responses(json!({
                    "200": {"description": "Prometheus exposition format 0.0.4", "content": {"text/plain": {"schema": {"type": "string"}}}}
                }))
            }},
            "/settings": {"get": {
                "summary": "The effective settings, secrets masked, as `twitcher config check` prints them",
                "description": "Each key of the settings table with the value in force and where it came from (default, ini, env NAME, flag). Passwords and the token secret show only whether they are set.",
                "tags": ["operations"],
                "security": password_security(),
                "responses": admin_responses(json!({
                    "200": ok_json("Settings", json!({"$ref": "#/components/schemas/SettingsReport"}))
                }))
            }},
            "/services": {
                "get": {
                    "summary": "List registered services",
                    "tags": ["services"],
                    "security": admin_security(),
                    "parameters": [
                        {"name": "limit", "in": "query", "required": false, "description": "Most services to return",
                         "schema": {"type": "integer", "minimum": 1, "maximum": 10000}},
                        {"name": "offset", "in": "query", "required": false, "description": "Services to skip",
                         "schema": {"type": "integer", "minimum": 0, "maximum": 18446744073709551615u64}}
                    ],
                    "responses": admin_responses(json!({
                        "200": ok_json("Services in registration order", json!({"type": "array", "items": service_ref.clone()})),
                        "400": {"$ref": "#/components/responses/BadRequest"}
                    }))
                },
                "post": {
                    "summary": "Register a service, or update the one with that name",
                    "description": "The name is sanitised (lower case, non-word characters become `_`) and the URL loses its query. The body is JSON with or without a Content-Type. `auth` is `token`, `cert` (either in any case), or anything else, which makes the service public.",
                    "tags": ["services"],
                    "security": admin_security(),
                    "parameters": [{"name": "If-None-Match", "in": "header", "required": false, "description": "`*`: only create; a name already registered gets 412 and is left as it was", "schema": {"type": "string", "enum": ["*"]}}],
                    "requestBody": {
                        "required": true,
                        "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/ServiceInput"},
                            "example": {"name": "emu", "url": "http://127.0.0.1:5000/wps", "type": "wps", "auth": "token"}
                        }}
                    },
                    "responses": admin_responses(json!({
                        "200": ok_json("The stored service", service_ref.clone()),
                        "400": {"$ref": "#/components/responses/BadRequest"},
                        "412": {"$ref": "#/components/responses/BadRequest"},
                        "413": {"$ref": "#/components/responses/TooLarge"}
                    }))
                },
                "delete": {
                    "summary": "Remove every service",
                    "tags": ["services"],
                    "security": admin_security(),
                    "responses": admin_responses(json!({
                        "200": ok_json("Always true", json!({"type": "boolean"}))
                    }))
                }
            },
            "/services/{name}": {
                "parameters": [{"name": "name", "in": "path", "required": true, "description": "Service name", "schema": {"type": "string"}}],
                "get": {
                    "summary": "One service",
                    "tags": ["services"],
                    "security": admin_security(),
                    "responses": admin_responses(json!({
                        "200": ok_json("The service", service_ref),
                        "404": {"$ref": "#/components/responses/NotFound"}
                    }))
                },
                "delete": {
                    "summary": "Unregister a service",
                    "tags": ["services"],
                    "security": admin_security(),
                    "responses": admin_responses(json!({
                        "200": ok_json("Whether a service of that name existed", json!({"type": "boolean"}))
                    }))
                }
            }
        },
        "components": {
            "securitySchemes": {
                "basicAuth": {"type": "http", "scheme": "basic", "description": "The admin (twitcher.username / twitcher.password)"},
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "An access token from /oauth/token with scope `register` (header, or an `access_token` query parameter)"}
            },
            "responses": {
                "BadRequest": err_response("Invalid input; each error names its field"),
                "Unauthorized": err_response("Admin credentials missing or wrong"),
                "NotFound": err_response("No such resource"),
                "TooLarge": err_response("Request body over the size limit"),
                "Busy": err_response("The database stayed busy; retry"),
                "TooManyPasswordChecks": err_response("Checks of the admin password run one at a time, and this one waited 2 s; retry after `Retry-After`")
            },
            "schemas": {
                "Service": {
                    "type": "object",
                    "required": ["url", "name", "type", "purl", "auth", "public", "verify"],
                    "properties": {
                        "url": {"type": "string", "description": "Backend URL, without query"},
                        "name": {"type": "string", "description": "Sanitised name, used in proxy URLs"},
                        "type": {"type": "string", "description": "OWS type: wps, wms, wfs, wcs, wmts"},
                        "purl": {"type": "string", "description": "Public URL shown instead of the proxy URL, or empty"},
                        "auth": {"type": "string", "description": "token, cert, or anything else for public"},
                        "public": {"type": "boolean"},
                        "verify": {"type": "boolean", "description": "Verify the backend's TLS certificate"}
                    }
                },
                "ServiceInput": {
                    "type": "object",
                    "required": ["name", "url"],
                    "properties": {
                        "name": {"type": "string", "minLength": 2},
                        "url": {"type": "string", "maxLength": 2048, "pattern": "^[ \\t]*https?://([^/?#\\s]*@)?[^/?#\\s:@][^/?#\\s@]*", "description": "http(s) URL with a host"},
                        "type": {"type": "string", "default": "WPS"},
                        "purl": {"type": "string", "default": ""},
                        "auth": {"type": "string", "default": "token"},
                        "verify": {
                            "nullable": true,
                            "oneOf": [
                                {"type": "boolean"},
                                {"type": "string", "enum": ["true", "false", "yes", "no", "on", "off", "y", "n", "t", "f", "1", "0"]},
                                {"type": "integer", "enum": [0, 1]}
                            ],
                            "default": true,
                            "description": "null means the default"
                        }
                    }
                },
                "FrontPage": {
                    "type": "object",
                    "required": ["message", "information_uri", "versions_uri", "services_uri", "client_uri", "token_uri", "openapi_uri", "owsproxy_uri"],
                    "properties": {
                        "message": {"type": "string"},
                        "information_uri": {"type": "string"},
                        "versions_uri": {"type": "string"},
                        "services_uri": {"type": "string"},
                        "client_uri": {"type": "string"},
                        "token_uri": {"type": "string"},
                        "openapi_uri": {"type": "string"},
                        "owsproxy_uri": {"type": "string", "nullable": true}
                    }
                },
                "OAuthError": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {"type": "string", "enum": ["invalid_request", "invalid_client", "invalid_scope", "unsupported_grant_type", "server_error", "temporarily_unavailable"]},
                        "error_description": {"type": "string"}
                    }
                },
                "TokenResponse": {
                    "type": "object",
                    "required": ["access_token", "expires_in", "token_type", "scope"],
                    "properties": {
                        "access_token": {"type": "string"},
                        "expires_in": {"type": "integer", "description": "Seconds"},
                        "token_type": {"type": "string", "enum": ["Bearer"]},
                        "scope": {"type": "string", "description": "Space-separated"}
                    }
                },
                "NewClient": {
                    "type": "object",
                    "required": ["name", "client_id", "client_secret", "redirect_uri", "scope"],
                    "properties": {
                        "name": {"type": "string"},
                        "client_id": {"type": "string"},
                        "client_secret": {"type": "string", "description": "Shown only here"},
                        "redirect_uri": {"type": "string"},
                        "scope": {"type": "array", "items": {"type": "string"}}
                    }
                },
                "Client": {
                    "type": "object",
                    "required": ["name", "client_id", "redirect_uri", "scope", "created_at"],
                    "properties": {
                        "name": {"type": "string"},
                        "client_id": {"type": "string"},
                        "redirect_uri": {"type": "string"},
                        "scope": {"type": "array", "items": {"type": "string"}},
                        "created_at": {"type": "integer", "description": "Unix seconds"}
                    }
                },
                "Introspection": {
                    "type": "object",
                    "required": ["active"],
                    "properties": {
                        "active": {"type": "boolean"},
                        "scope": {"type": "string"},
                        "client_id": {"type": "string"},
                        "token_type": {"type": "string"},
                        "exp": {"type": "integer"}
                    }
                },
                "Health": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {"status": {"type": "string"}, "reason": {"type": "string"}}
                },
                "Stats": {
                    "type": "object",
                    "required": ["started_at", "uptime_seconds", "requests", "in_flight", "bytes_sent", "status", "latency_ms", "latency_buckets", "services", "other_services"],
                    "properties": {
                        "started_at": {"type": "integer", "description": "Unix seconds"},
                        "uptime_seconds": {"type": "integer"},
                        "requests": {"type": "integer"},
                        "in_flight": {"type": "integer"},
                        "bytes_sent": {"type": "integer"},
                        "status": {"type": "object", "additionalProperties": {"type": "integer"}},
                        "latency_ms": {"type": "object", "properties": {"p50": {"type": "number"}, "p90": {"type": "number"}, "p99": {"type": "number"}}},
                        "latency_buckets": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
                        "services": {"type": "array", "items": {
                            "type": "object",
                            "required": ["name", "requests", "refused"],
                            "properties": {"name": {"type": "string"}, "requests": {"type": "integer"}, "refused": {"type": "integer"}}
                        }},
                        "other_services": {"type": "integer"}
                    }
                },
                "SettingsReport": {
                    "type": "object",
                    "required": ["config_file", "settings"],
                    "properties": {
                        "config_file": {"type": "string", "nullable": true, "description": "The INI file read, or null"},
                        "settings": {"type": "array", "items": {
                            "type": "object",
                            "required": ["key", "value", "source"],
                            "properties": {
                                "key": {"type": "string", "description": "As in the INI file, e.g. twitcher.token.type"},
                                "value": {"type": "string", "description": "Secrets: `(not set)` or `******** (set)`"},
                                "source": {"type": "string", "description": "default, ini, `env NAME`, flag, or `derived from ...` for a key left empty that the server fills in"}
                            }
                        }}
                    }
                },
                "Verdict": {
                    "type": "object",
                    "required": ["description", "access"],
                    "properties": {
                        "description": {"type": "string"},
                        "access": {"type": "boolean"},
                        "reason": {"type": "string", "description": "Why access was refused: the second ExceptionText of /ows/proxy's answer"}
                    }
                },
                "Error": {
                    "type": "object",
                    "required": ["status", "errors"],
                    "properties": {
                        "status": {"type": "string", "enum": ["error"]},
                        "errors": {"type": "array", "items": {
                            "type": "object",
                            "required": ["location", "name", "description"],
                            "properties": {
                                "location": {"type": "string"},
                                "name": {"type": "string"},
                                "description": {"type": "string"}
                            }
                        }}
                    }
                }
            }
        }
    });
    if let (Some(paths), Value::Object(oauth)) = (doc["paths"].as_object_mut(), oauth_paths()) {
        paths.extend(oauth);
    }
    if let (Some(paths), Some(Value::Object(ows))) =
        (doc["paths"].as_object_mut(), ows_prefix.map(ows_paths))
    {
        paths.extend(ows);
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::routes::{Access, table};

    /// `{rest*}` tails are written `{rest}` in OpenAPI.
    fn openapi_path(pattern: &str) -> String {
        pattern.replace("*}", "}")
    }

    #[test]
    fn every_route_and_method_is_documented() {
        let doc = document(Some("/ows"));
        for route in table(false, Some("/ows")) {
            let path = openapi_path(&route.pattern);
            let item = doc["paths"]
                .get(&path)
                .unwrap_or_else(|| panic!("{path} is routed but missing from /__api__"));
            for (method, access, _) in &route.methods {
                let op = &item[method.as_str().to_lowercase()];
                assert!(
                    op.is_object(),
                    "{} {path} is routed but not documented",
                    method.as_str()
                );
                // A public route may name optional schemes, with `{}` for "none".
                let required = op
                    .get("security")
                    .and_then(Value::as_array)
                    .is_some_and(|s| {
                        !s.iter()
                            .any(|r| r.as_object().is_some_and(|o| o.is_empty()))
                    });
                assert_eq!(
                    required,
                    *access != Access::Public,
                    "{} {path}: security must match the route's access",
                    method.as_str()
                );
            }
        }
    }

    #[test]
    fn every_documented_path_is_routed() {
        let doc = document(Some("/ows"));
        let routed: Vec<String> = table(false, Some("/ows"))
            .iter()
            .map(|r| openapi_path(&r.pattern))
            .collect();
        for path in doc["paths"].as_object().unwrap().keys() {
            assert!(routed.contains(path), "{path} is documented but not routed");
        }
    }
}
