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
    map.insert("503".into(), json!({"$ref": "#/components/responses/Busy"}));
    own
}

pub fn document() -> Value {
    let service_ref = json!({"$ref": "#/components/schemas/Service"});
    json!({
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
            "/services": {
                "get": {
                    "summary": "List registered services",
                    "tags": ["services"],
                    "security": [{"basicAuth": []}],
                    "parameters": [
                        {"name": "limit", "in": "query", "required": false, "description": "Most services to return",
                         "schema": {"type": "integer", "minimum": 1, "maximum": 10000}},
                        {"name": "offset", "in": "query", "required": false, "description": "Services to skip",
                         "schema": {"type": "integer", "minimum": 0}}
                    ],
                    "responses": admin_responses(json!({
                        "200": ok_json("Services in registration order", json!({"type": "array", "items": service_ref.clone()})),
                        "400": {"$ref": "#/components/responses/BadRequest"}
                    }))
                },
                "post": {
                    "summary": "Register a service, or update the one with that name",
                    "description": "The name is sanitised (lower case, non-word characters become `_`) and the URL loses its query. The body is JSON with or without a Content-Type.",
                    "tags": ["services"],
                    "security": [{"basicAuth": []}],
                    "requestBody": {
                        "required": true,
                        "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/ServiceInput"},
                            "example": {"name": "emu", "url": "http://localhost:5000/wps", "type": "wps", "auth": "token"}
                        }}
                    },
                    "responses": admin_responses(json!({
                        "200": ok_json("The stored service", service_ref.clone()),
                        "400": {"$ref": "#/components/responses/BadRequest"},
                        "413": {"$ref": "#/components/responses/TooLarge"}
                    }))
                },
                "delete": {
                    "summary": "Remove every service",
                    "tags": ["services"],
                    "security": [{"basicAuth": []}],
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
                    "security": [{"basicAuth": []}],
                    "responses": admin_responses(json!({
                        "200": ok_json("The service", service_ref),
                        "404": {"$ref": "#/components/responses/NotFound"}
                    }))
                },
                "delete": {
                    "summary": "Unregister a service",
                    "tags": ["services"],
                    "security": [{"basicAuth": []}],
                    "responses": admin_responses(json!({
                        "200": ok_json("Whether a service of that name existed", json!({"type": "boolean"}))
                    }))
                }
            }
        },
        "components": {
            "securitySchemes": {
                "basicAuth": {"type": "http", "scheme": "basic", "description": "The admin (twitcher.username / twitcher.password)"}
            },
            "responses": {
                "BadRequest": err_response("Invalid input; each error names its field"),
                "Unauthorized": err_response("Admin credentials missing or wrong"),
                "NotFound": err_response("No such resource"),
                "TooLarge": err_response("Request body over the size limit"),
                "Busy": err_response("The database stayed busy; retry")
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
                        "url": {"type": "string", "description": "http(s) URL with a host"},
                        "type": {"type": "string", "default": "WPS"},
                        "purl": {"type": "string", "default": ""},
                        "auth": {"type": "string", "default": "token"},
                        "verify": {"oneOf": [{"type": "boolean"}, {"type": "string"}, {"type": "integer"}], "default": true}
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
    })
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
        let doc = document();
        for route in table(false) {
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
                assert_eq!(
                    op.get("security").is_some(),
                    *access == Access::Admin,
                    "{} {path}: security must match the route's access",
                    method.as_str()
                );
            }
        }
    }

    #[test]
    fn every_documented_path_is_routed() {
        let doc = document();
        let routed: Vec<String> = table(false)
            .iter()
            .map(|r| openapi_path(&r.pattern))
            .collect();
        for path in doc["paths"].as_object().unwrap().keys() {
            assert!(routed.contains(path), "{path} is documented but not routed");
        }
    }
}
