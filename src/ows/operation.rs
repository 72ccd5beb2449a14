//! The OGC service types twitcher understands, their operations and versions, and
//! which operations anyone may call.

/// An OGC Web Service type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceType {
    Wps,
    Wms,
    Wfs,
    Wcs,
    Wmts,
}

struct Spec {
    name: &'static str,
    /// Canonical names of the operations that name a version (GetCapabilities may).
    operations: &'static [&'static str],
    /// The capabilities and description operations, open without a token.
    public: &'static [&'static str],
    versions: &'static [&'static str],
    /// Canonical names of the operations that need no `version`, listed here only.
    versionless: &'static [&'static str],
}

const WPS: Spec = Spec {
    name: "wps",
    operations: &[
        "GetCapabilities",
        "DescribeProcess",
        "Execute",
        "GetStatus",
        "GetResult",
        "Dismiss",
    ],
    public: &["GetCapabilities", "DescribeProcess"],
    versions: &["1.0.0", "2.0.0"],
    // GeoServer's own, which its WPS 1.0.0 statusLocation and output references use.
    versionless: &["GetExecutionStatus", "GetExecutionResult", "GetExecutions"],
};

const WMS: Spec = Spec {
    name: "wms",
    operations: &[
        "GetCapabilities",
        "GetMap",
        "GetFeatureInfo",
        "DescribeLayer",
    ],
    public: &["GetCapabilities"],
    versions: &["1.0.0", "1.1.0", "1.1.1", "1.3.0"],
    // ncWMS clients send GetMetadata and GetLegendGraphic without a version. The rest are
    // QGIS Server's own (GetStyles also SLD-WMS's, as in GeoServer and MapServer), which
    // QGIS web clients such as Lizmap and QWC2 call, and which QGIS takes without one.
    versionless: &[
        "GetMetadata",
        "GetLegendGraphic",
        "GetProjectSettings",
        "GetPrint",
        "GetStyles",
        "GetStyle",
        "GetSchemaExtension",
        "GetContext",
        "GetLegendGraphics",
    ],
};

const WFS: Spec = Spec {
    name: "wfs",
    operations: &[
        "GetCapabilities",
        "DescribeFeatureType",
        "GetFeature",
        "GetPropertyValue",
        "GetFeatureWithLock",
        "LockFeature",
        "Transaction",
        "ListStoredQueries",
        "DescribeStoredQueries",
        "CreateStoredQuery",
        "DropStoredQuery",
    ],
    public: &["GetCapabilities", "DescribeFeatureType"],
    versions: &["1.0.0", "1.1.0", "2.0.0", "2.0.2"],
    // MapServer's, linked from its WFS and WCS capabilities as each layer's metadata.
    versionless: &["GetMetadata"],
};

const WCS: Spec = Spec {
    name: "wcs",
    operations: &["GetCapabilities", "DescribeCoverage", "GetCoverage"],
    public: &["GetCapabilities", "DescribeCoverage"],
    versions: &["1.0.0", "1.1.0", "1.1.1", "1.1.2", "2.0.0", "2.0.1"],
    // MapServer's, as for WFS.
    versionless: &["GetMetadata"],
};

const WMTS: Spec = Spec {
    name: "wmts",
    operations: &["GetCapabilities", "GetTile", "GetFeatureInfo"],
    public: &["GetCapabilities"],
    versions: &["1.0.0"],
    versionless: &[],
};

impl ServiceType {
    pub const ALL: [ServiceType; 5] = [
        ServiceType::Wps,
        ServiceType::Wms,
        ServiceType::Wfs,
        ServiceType::Wcs,
        ServiceType::Wmts,
    ];

    fn spec(self) -> &'static Spec {
        match self {
            ServiceType::Wps => &WPS,
            ServiceType::Wms => &WMS,
            ServiceType::Wfs => &WFS,
            ServiceType::Wcs => &WCS,
            ServiceType::Wmts => &WMTS,
        }
    }

    /// `WPS`, `wps` or `Wps`; other words are not a type we know.
    pub fn parse(s: &str) -> Option<ServiceType> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|t| t.spec().name.eq_ignore_ascii_case(s))
    }

    /// Lower case, as Twitcher reports it.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The canonical name of an operation of this type, matched without regard to case.
    pub fn operation(self, name: &str) -> Option<&'static str> {
        self.spec()
            .all_operations()
            .find(|o| o.eq_ignore_ascii_case(name))
    }

    pub fn is_public(self, operation: &str) -> bool {
        self.spec().public.contains(&operation)
    }

    pub fn supports_version(self, version: &str) -> bool {
        self.spec().versions.contains(&version)
    }

    pub fn versions(self) -> &'static [&'static str] {
        self.spec().versions
    }

    /// Whether the operation must name a version (all but capabilities, as in Twitcher).
    pub fn needs_version(self, operation: &str) -> bool {
        operation != "GetCapabilities" && !self.spec().versionless.contains(&operation)
    }
}

impl Spec {
    fn all_operations(&self) -> impl Iterator<Item = &'static str> {
        self.operations.iter().chain(self.versionless).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_operations_are_exactly_the_capabilities_and_descriptions() {
        let public: Vec<(&str, &str)> = ServiceType::ALL
            .iter()
            .flat_map(|t| {
                t.spec()
                    .all_operations()
                    .filter(|o| t.is_public(o))
                    .map(|o| (t.name(), o))
            })
            .collect();
        assert_eq!(
            public,
            [
                ("wps", "GetCapabilities"),
                ("wps", "DescribeProcess"),
                ("wms", "GetCapabilities"),
                ("wfs", "GetCapabilities"),
                ("wfs", "DescribeFeatureType"),
                ("wcs", "GetCapabilities"),
                ("wcs", "DescribeCoverage"),
                ("wmts", "GetCapabilities"),
            ]
        );
        for t in ServiceType::ALL {
            for p in t.spec().public {
                assert!(t.spec().operations.contains(p));
            }
        }
    }

    #[test]
    fn names_ignore_case() {
        assert_eq!(ServiceType::parse("Wps"), Some(ServiceType::Wps));
        assert_eq!(ServiceType::parse("ATM"), None);
        assert_eq!(ServiceType::Wps.operation("execute"), Some("Execute"));
        assert_eq!(ServiceType::Wps.operation("tellmemore"), None);
        assert!(!ServiceType::Wps.is_public("GetStatus"));
        assert!(!ServiceType::Wps.is_public("GetResult"));
        assert!(ServiceType::Wms.needs_version("GetMap"));
        assert!(!ServiceType::Wms.needs_version("GetMetadata"));
        // QGIS Server's own: known, so they pass with a token, and never public.
        for op in [
            "getprojectsettings",
            "GetPrint",
            "GETSTYLES",
            "GetLegendGraphics",
        ] {
            let name = ServiceType::Wms.operation(op).unwrap();
            assert!(!ServiceType::Wms.is_public(name), "{op}");
            assert!(!ServiceType::Wms.needs_version(name), "{op}");
        }
    }
}
