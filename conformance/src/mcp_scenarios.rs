//! The `MCP-*` requirements' table: which scenario of the official MCP
//! conformance suite backs each id, and the install hint shown when the suite
//! is missing. A leaf, kept apart from [`crate::mcp_suite`] (which spawns Node)
//! so the pure checks can name scenarios without depending on the runner.

/// The hint given wherever the suite is missing.
pub const INSTALL_HINT: &str = "run scripts/setup-node.sh";

/// Requirement id → the suite's scenario that backs it, in catalog order.
pub const SCENARIOS: [(&str, &str); 6] = [
    ("MCP-001", "server-initialize"),
    ("MCP-002", "ping"),
    ("MCP-003", "tools-list"),
    ("MCP-004", "server-session-lifecycle"),
    ("MCP-005", "dns-rebinding-protection"),
    ("MCP-006", "http-header-validation"),
];

/// The scenario behind requirement `id`.
pub fn scenario_of(id: &str) -> Option<&'static str> {
    SCENARIOS
        .iter()
        .find(|(rid, _)| rid.eq_ignore_ascii_case(id))
        .map(|(_, s)| *s)
}
