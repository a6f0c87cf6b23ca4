//! What a difference is: its kind (one row each, with its default severity), its
//! severity, and the accepted change that no longer occurs.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How much a change matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Additive,
    Risky,
    Breaking,
}

impl Severity {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Additive => "additive",
            Self::Risky => "risky",
            Self::Breaking => "breaking",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! change_kinds {
    ($($variant:ident => $severity:ident, $name:literal;)*) => {
        /// What changed. Each kind has a default [`Severity`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum ChangeKind { $($variant,)* }

        impl ChangeKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)*];

            /// The snake_case name used in keys, configs and reports.
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name,)* }
            }

            /// The severity when the config does not override it.
            pub const fn default_severity(self) -> Severity {
                match self { $(Self::$variant => Severity::$severity,)* }
            }
        }
    };
}

change_kinds! {
    MetricRemoved => Breaking, "metric_removed";
    MetricRenamed => Breaking, "metric_renamed";
    MetricAdded => Additive, "metric_added";
    MetricTypeChanged => Breaking, "metric_type_changed";
    MetricUnitChanged => Breaking, "metric_unit_changed";
    MetricBucketsChanged => Breaking, "metric_buckets_changed";
    MetricHelpChanged => Additive, "metric_help_changed";
    LabelRemoved => Breaking, "label_removed";
    LabelRenamed => Breaking, "label_renamed";
    LabelAdded => Risky, "label_added";
    LabelUnbounded => Risky, "label_unbounded";
    LabelValueRemoved => Risky, "label_value_removed";
    LabelValueAdded => Additive, "label_value_added";
    SeriesGrew => Risky, "series_grew";
    SpanRemoved => Breaking, "span_removed";
    SpanRenamed => Breaking, "span_renamed";
    SpanAdded => Additive, "span_added";
    SpanKindChanged => Breaking, "span_kind_changed";
    SpanReparented => Breaking, "span_reparented";
    SpanStatusChanged => Risky, "span_status_changed";
    AttributeRemoved => Breaking, "attribute_removed";
    AttributeRenamed => Breaking, "attribute_renamed";
    AttributeTypeChanged => Breaking, "attribute_type_changed";
    AttributeAdded => Additive, "attribute_added";
    AttributeFreeText => Risky, "attribute_free_text";
    EventRemoved => Risky, "event_removed";
    EventAdded => Additive, "event_added";
    OperationPathRemoved => Risky, "operation_path_removed";
    OperationPathAdded => Additive, "operation_path_added";
    LogRemoved => Risky, "log_removed";
    LogAdded => Additive, "log_added";
    LogSeverityChanged => Risky, "log_severity_changed";
    LogAttributeRemoved => Risky, "log_attribute_removed";
    LogAttributeAdded => Additive, "log_attribute_added";
    LogCorrelationChanged => Risky, "log_correlation_changed";
    ResourceAttributeRemoved => Breaking, "resource_attribute_removed";
    ResourceAttributeTypeChanged => Breaking, "resource_attribute_type_changed";
    ResourceAttributeAdded => Additive, "resource_attribute_added";
    ScopeRemoved => Risky, "scope_removed";
    ScopeAdded => Additive, "scope_added";
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One difference between baseline and current.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// `kind:item[:detail]`, stable across runs: what `[accept]` names.
    pub key: String,
    pub kind: ChangeKind,
    pub severity: Severity,
    /// `metric`, `span`, `log`, `resource`, `scope`, `operation`.
    pub signal: String,
    /// The metric, span, log template or operation concerned.
    pub item: String,
    /// What in it changed (`buckets`, a label or attribute key, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// One sentence for a human.
    pub message: String,
    /// The reason it was accepted, if the config accepts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<String>,
}

/// An accepted change that did not occur.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaleAccept {
    pub key: String,
    pub reason: String,
}
