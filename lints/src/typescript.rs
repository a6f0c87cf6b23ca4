//! TypeScript and JavaScript sources (`.ts`, `.mts`, `.cts`, `.js`, `.mjs`,
//! `.cjs`), parsed with `tree-sitter-typescript` (the TypeScript grammar for
//! `.ts`/`.mts`/`.cts`, its TSX grammar, a superset of JavaScript with JSX,
//! for the JavaScript files). Pure apart from the parser handed in: bytes in,
//! diagnostics out.
//!
//! `LNT-001`: the Prometheus client and its middlewares (`prom-client`,
//! `express-prom-bundle`, …, see [`LEGACY_PACKAGES`]) loaded outside the
//! allowed module, in any form: `import x from`, `import {…} from`,
//! `import * as`, side-effect `import '…'`, `import x = require('…')`,
//! `export … from`, `require('…')` and dynamic `import('…')` with a literal
//! name; any load of a `telemetry/prom` module (`./telemetry/prom.js`,
//! `../telemetry/prom`, `./prom` inside a `telemetry` folder, …), everywhere.
//! `@opentelemetry/exporter-prometheus` is the sanctioned path, never flagged.
//! `LNT-003`: `app.get('/metrics', handler)` (any HTTP verb, `all`, `use`;
//! Express, Koa router, Fastify and Hono spell it alike), Hono's
//! `app.on('GET', '/metrics', h)`, `router.route('/metrics')`,
//! `fastify.route({ url: '/metrics', … })` / hapi's `path:`, and a raw
//! `http.createServer` handler comparing `req.url` / `pathname` with
//! `'/metrics'` (`===`, `==`, `startsWith`, a `switch` case).
//! `LNT-000`: a syntax error (tree-sitter `ERROR`/`MISSING` nodes) or bytes
//! that are not UTF-8; the rules still run on what parsed.

use std::borrow::Cow;
use std::path::{Component, Path};

use tree_sitter::{Node, Parser};

use crate::rules::{Diagnostic, Rule};

/// Packages that are the legacy Prometheus path in Node (the client itself
/// and the middlewares built on it); `@promster/*` is matched as a scope.
pub const LEGACY_PACKAGES: [&str; 7] = [
    "prom-client",
    "express-prom-bundle",
    "prometheus-api-metrics",
    "swagger-stats",
    "express-prometheus-middleware",
    "fastify-metrics",
    "koa-prometheus",
];
/// npm scopes whose every package is a legacy Prometheus middleware.
const LEGACY_SCOPES: [&str; 1] = ["@promster/"];
/// Methods on an app/router that register a handler for a path (first argument).
const VERB_ROUTE_CALLS: [&str; 11] = [
    "get", "post", "put", "patch", "delete", "del", "head", "options", "all", "use", "route",
];
/// HTTP clients: `http.get('/metrics', cb)` requests the path, it does not serve it.
const HTTP_CLIENTS: [&str; 8] = [
    "http",
    "https",
    "axios",
    "got",
    "ky",
    "superagent",
    "request",
    "supertest",
];
/// Properties / variables holding the requested path in a raw handler.
const URL_NAMES: [&str; 5] = ["url", "pathname", "path", "originalUrl", "baseUrl"];
/// Keys of a route object (`fastify.route({ url })`, hapi's `server.route({ path })`).
const ROUTE_OBJECT_KEYS: [&str; 2] = ["url", "path"];

const PROM_CLIENT_HELP: &str = "declare instruments once in observability/metrics.ts and record through OpenTelemetry \
     (@opentelemetry/exporter-prometheus serves /metrics)";
const TELEMETRY_PROM_HELP: &str =
    "telemetry/prom is retired: take the instruments from observability/metrics (OpenTelemetry)";

/// Whether `path` is a JavaScript file (parsed with the TSX grammar) rather
/// than TypeScript.
pub fn is_javascript(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("js" | "mjs" | "cjs")
    )
}

/// Whether any rule could fire in `source`: it mentions `prom` (covers
/// `prom-client`, `@promster`, `telemetry/prom`), `metrics` (`/metrics`,
/// `fastify-metrics`, `prometheus-api-metrics`) or `swagger-stats`.
pub fn may_violate(source: &str) -> bool {
    source.contains("prom") || source.contains("metrics") || source.contains("swagger-stats")
}

/// A tree-sitter parser for TypeScript (`javascript: false`) or for
/// JavaScript with JSX (the TSX grammar).
pub fn new_parser(javascript: bool) -> Result<Parser, tree_sitter::LanguageError> {
    let mut parser = Parser::new();
    if javascript {
        parser.set_language(&tree_sitter_typescript::LANGUAGE_TSX.into())?;
    } else {
        parser.set_language(&tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into())?;
    }
    Ok(parser)
}

/// Checks one TypeScript or JavaScript file.
///
/// * `path` is the path reported in diagnostics;
/// * `context` is where the file lives (best absolute), used only to resolve
///   relative specifiers (`./prom.js` inside a `telemetry` folder);
/// * `allowed_module` is true for `observability/metrics.ts` (it may load
///   `prom-client` and serve `/metrics`; `telemetry/prom` stays banned).
pub fn check_typescript(
    parser: &mut Parser,
    path: &Path,
    context: &Path,
    source: &[u8],
    allowed_module: bool,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let lang = if is_javascript(path) {
        "JavaScript"
    } else {
        "TypeScript"
    };
    let source = source.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(source);
    let text: Cow<'_, str> = match std::str::from_utf8(source) {
        Ok(s) => Cow::Borrowed(s),
        Err(e) => {
            out.push(crate::rules::not_utf8(path, source, e.valid_up_to(), None));
            String::from_utf8_lossy(source)
        }
    };
    let Some(tree) = parser.parse(text.as_bytes(), None) else {
        out.push(Diagnostic::new(
            Rule::ParseError,
            path,
            1,
            1,
            format!("cannot parse {lang}: the parser returned no tree"),
        ));
        return out;
    };
    let dir: Vec<String> = context
        .parent()
        .map(|dir| {
            dir.components()
                .filter_map(|c| match c {
                    Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let mut ctx = Ctx {
        src: &text,
        path,
        dir,
        allowed: allowed_module,
        out,
        first_error: None,
        error_count: 0,
    };
    let root = tree.root_node();
    let mut cursor = root.walk();
    'walk: loop {
        ctx.visit(cursor.node());
        if cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                break 'walk;
            }
        }
    }
    ctx.finish(root.has_error(), lang)
}

fn is_metrics_path(value: &str) -> bool {
    value == "/metrics" || value == "/metrics/"
}

/// The legacy package a specifier loads (`prom-client/lib/x` is `prom-client`).
fn legacy_package(spec: &str) -> Option<&str> {
    if let Some(scope) = LEGACY_SCOPES.iter().find(|s| spec.starts_with(**s)) {
        return Some(scope.trim_end_matches('/'));
    }
    let name = spec.split('/').next().unwrap_or(spec);
    LEGACY_PACKAGES.iter().copied().find(|p| *p == name)
}

/// A path segment without a source extension (`prom.js` → `prom`).
fn module_name(segment: &str) -> &str {
    for ext in [".ts", ".mts", ".cts", ".js", ".mjs", ".cjs", ".jsx", ".tsx"] {
        if let Some(stem) = segment.strip_suffix(ext) {
            return stem;
        }
    }
    segment
}

/// `line` without a trailing `// comment` (a `//` inside a string is kept).
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut prev_slash = false;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (Some(_), _) if escaped => escaped = false,
            (Some(_), '\\') => escaped = true,
            (Some(q), c) if c == q => quote = None,
            (None, '"' | '\'' | '`') => quote = Some(c),
            (None, '/') if prev_slash => return line[..i - 1].trim_end(),
            _ => {}
        }
        prev_slash = quote.is_none() && c == '/';
    }
    line
}

/// The first line of a statement (comment dropped), shortened for a message.
fn snippet(text: &str) -> String {
    let line = strip_comment(text.lines().next().unwrap_or_default().trim());
    let mut s: String = line.chars().take(80).collect();
    if s.len() < line.len() || text.lines().nth(1).is_some() {
        s.push('…');
    }
    s
}

struct Ctx<'s, 'p> {
    src: &'s str,
    path: &'p Path,
    /// Directory components of the file, for relative specifiers.
    dir: Vec<String>,
    allowed: bool,
    out: Vec<Diagnostic>,
    first_error: Option<(u32, u32, String)>,
    error_count: usize,
}

impl<'s> Ctx<'s, '_> {
    fn text(&self, node: Node<'_>) -> &'s str {
        self.src.get(node.byte_range()).unwrap_or_default()
    }

    /// 1-based line and column (in characters) of a node start.
    fn pos(&self, node: Node<'_>) -> (u32, u32) {
        let start = node.start_byte();
        let point = node.start_position();
        let line_start = start.saturating_sub(point.column);
        let column = self
            .src
            .get(line_start..start)
            .map_or(point.column, |s| s.chars().count());
        (point.row as u32 + 1, column as u32 + 1)
    }

    fn push(&mut self, rule: Rule, node: Node<'_>, message: String, help: &str) {
        let (line, column) = self.pos(node);
        self.out
            .push(Diagnostic::new(rule, self.path, line, column, message).with_help(help));
    }

    fn visit(&mut self, node: Node<'_>) {
        if node.is_error() || node.is_missing() {
            self.error_count += 1;
            if self.first_error.is_none() {
                let (line, column) = self.pos(node);
                let what = if node.is_missing() {
                    format!("missing `{}`", node.kind())
                } else {
                    format!("unexpected `{}`", snippet(self.text(node)))
                };
                self.first_error = Some((line, column, what));
            }
        }
        match node.kind() {
            "import_statement" | "export_statement" => self.import(node),
            "call_expression" => self.call(node),
            "binary_expression" => self.comparison(node),
            "switch_statement" => self.switch(node),
            _ => {}
        }
    }

    /// The value of a plain string literal or of a template without
    /// substitutions.
    fn string_value(&self, node: Node<'_>) -> Option<String> {
        if !matches!(node.kind(), "string" | "template_string") {
            return None;
        }
        let mut cursor = node.walk();
        let mut value = String::new();
        for child in node.named_children(&mut cursor) {
            match child.kind() {
                "template_substitution" => return None,
                "string_fragment" => value.push_str(self.text(child)),
                "escape_sequence" => value.push_str(self.text(child).trim_start_matches('\\')),
                _ => {}
            }
        }
        Some(value)
    }

    /// Checks a module specifier loaded by `stmt`.
    fn check_specifier(&mut self, spec: &str, at: Node<'_>, stmt: Node<'_>) {
        let shown = snippet(self.text(stmt));
        if let Some(package) = legacy_package(spec) {
            if !self.allowed {
                self.push(
                    Rule::LegacyImport,
                    at,
                    format!(
                        "`{shown}` imports the legacy `{package}` outside observability/metrics.ts"
                    ),
                    PROM_CLIENT_HELP,
                );
            }
            return;
        }
        let mut segments: Vec<String> = if spec.starts_with("./") || spec.starts_with("../") {
            self.dir.clone()
        } else {
            Vec::new()
        };
        for part in spec.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    segments.pop();
                }
                other => segments.push(module_name(other).to_owned()),
            }
        }
        if segments
            .windows(2)
            .any(|w| w[0] == "telemetry" && w[1] == "prom")
        {
            self.push(
                Rule::LegacyImport,
                at,
                format!("`{shown}` imports the legacy `telemetry/prom` module"),
                TELEMETRY_PROM_HELP,
            );
        }
    }

    fn import(&mut self, node: Node<'_>) {
        let mut source = node.child_by_field_name("source");
        if source.is_none() {
            let mut cursor = node.walk();
            source = node
                .named_children(&mut cursor)
                .find(|c| c.kind() == "import_require_clause")
                .and_then(|c| c.child_by_field_name("source"));
        }
        if let Some(source) = source
            && let Some(spec) = self.string_value(source)
        {
            self.check_specifier(&spec, source, node);
        }
    }

    fn arguments(node: Node<'_>) -> Vec<Node<'_>> {
        let Some(args) = node.child_by_field_name("arguments") else {
            return Vec::new();
        };
        let mut cursor = args.walk();
        args.named_children(&mut cursor)
            .filter(|n| n.kind() != "comment")
            .collect()
    }

    /// The last identifier of an object expression (`app`, `this.router` → `router`).
    fn receiver_name(&self, node: Node<'_>) -> &'s str {
        match node.kind() {
            "member_expression" => node
                .child_by_field_name("property")
                .map_or("", |p| self.text(p)),
            _ => self.text(node),
        }
    }

    fn call(&mut self, node: Node<'_>) {
        let Some(function) = node.child_by_field_name("function") else {
            return;
        };
        let args = Self::arguments(node);
        let first_string = args.first().and_then(|a| self.string_value(*a));
        // `require('…')`, `import('…')`
        if function.kind() == "import"
            || (function.kind() == "identifier" && self.text(function) == "require")
        {
            if let (Some(spec), Some(arg)) = (first_string, args.first()) {
                self.check_specifier(&spec, *arg, node);
            }
            return;
        }
        if self.allowed || function.kind() != "member_expression" {
            return;
        }
        let (Some(object), Some(property)) = (
            function.child_by_field_name("object"),
            function.child_by_field_name("property"),
        ) else {
            return;
        };
        let method = self.text(property);
        let receiver = self.receiver_name(object);
        // `req.url.startsWith('/metrics')`
        if method == "startsWith" {
            if URL_NAMES.contains(&receiver)
                && first_string
                    .as_deref()
                    .is_some_and(|s| s.starts_with("/metrics"))
            {
                self.route(node, "compares the request path with");
            }
            return;
        }
        if HTTP_CLIENTS.contains(&receiver) {
            return;
        }
        let path_hit = match method {
            // `router.route('/metrics')`: Express's route builder.
            "route" if first_string.is_some() => {
                first_string.as_deref().is_some_and(is_metrics_path)
            }
            // `fastify.route({ url: '/metrics', … })`, hapi `server.route({ path })`.
            "route" => args.iter().any(|a| self.route_object(*a)),
            // Hono `app.on('GET', '/metrics', h)`.
            "on" => {
                args.get(1)
                    .and_then(|a| self.string_value(*a))
                    .is_some_and(|s| is_metrics_path(&s))
                    && args.iter().skip(2).any(|a| Self::handler_like(*a))
            }
            // `app.get('/metrics', handler)`: a handler must follow, so
            // `map.get('/metrics')` or Express's `app.get(setting)` are not routes.
            m if VERB_ROUTE_CALLS.contains(&m) => {
                first_string.as_deref().is_some_and(is_metrics_path)
                    && args.iter().skip(1).any(|a| Self::handler_like(*a))
            }
            _ => false,
        };
        if path_hit {
            self.route(node, "");
        }
    }

    /// Whether an argument after the path can be a handler (a function, or a
    /// name / call giving one); an options object or a literal cannot, so
    /// `client.get('/metrics', { timeout: 5 })` is a request, not a route.
    fn handler_like(node: Node<'_>) -> bool {
        matches!(
            node.kind(),
            "arrow_function"
                | "function_expression"
                | "function"
                | "identifier"
                | "member_expression"
                | "call_expression"
                | "array"
        )
    }

    /// An object literal `{ url: '/metrics', … }` / `{ path: '/metrics' }`.
    fn route_object(&self, node: Node<'_>) -> bool {
        if node.kind() != "object" {
            return false;
        }
        let mut cursor = node.walk();
        let pairs: Vec<Node<'_>> = node
            .named_children(&mut cursor)
            .filter(|c| c.kind() == "pair")
            .collect();
        pairs.into_iter().any(|pair| {
            let key = pair.child_by_field_name("key").map(|k| {
                self.string_value(k)
                    .unwrap_or_else(|| self.text(k).to_owned())
            });
            key.is_some_and(|k| ROUTE_OBJECT_KEYS.contains(&k.as_str()))
                && pair
                    .child_by_field_name("value")
                    .and_then(|v| self.string_value(v))
                    .is_some_and(|v| is_metrics_path(&v))
        })
    }

    fn route(&mut self, node: Node<'_>, how: &str) {
        let stmt = snippet(self.text(node));
        let message = if how.is_empty() {
            format!("hand-made `/metrics` route `{stmt}`")
        } else {
            format!("hand-made `/metrics` route: `{stmt}` {how} `/metrics`")
        };
        self.push(Rule::MetricsRoute, node, message, Rule::MetricsRoute.help());
    }

    /// Whether `node` names the request path (`req.url`, `url.pathname`, `pathname`).
    fn is_url(&self, node: Node<'_>) -> bool {
        match node.kind() {
            "member_expression" | "identifier" => URL_NAMES.contains(&self.receiver_name(node)),
            "parenthesized_expression" => node.named_child(0).is_some_and(|n| self.is_url(n)),
            _ => false,
        }
    }

    /// `req.url === '/metrics'` (either side, `==`, `!==`, `!=`).
    fn comparison(&mut self, node: Node<'_>) {
        if self.allowed {
            return;
        }
        let (Some(left), Some(op), Some(right)) = (
            node.child_by_field_name("left"),
            node.child_by_field_name("operator"),
            node.child_by_field_name("right"),
        ) else {
            return;
        };
        if !matches!(self.text(op), "===" | "==" | "!==" | "!=") {
            return;
        }
        let hit = |a: Node<'_>, b: Node<'_>| {
            self.is_url(a) && self.string_value(b).is_some_and(|s| is_metrics_path(&s))
        };
        if hit(left, right) || hit(right, left) {
            self.route(node, "compares the request path with");
        }
    }

    /// `switch (req.url) { case '/metrics': … }`.
    fn switch(&mut self, node: Node<'_>) {
        if self.allowed {
            return;
        }
        let Some(value) = node.child_by_field_name("value") else {
            return;
        };
        if !self.is_url(value) {
            return;
        }
        let Some(body) = node.child_by_field_name("body") else {
            return;
        };
        let mut cursor = body.walk();
        let cases: Vec<Node<'_>> = body
            .named_children(&mut cursor)
            .filter(|c| c.kind() == "switch_case")
            .collect();
        for case in cases {
            if case
                .child_by_field_name("value")
                .and_then(|v| self.string_value(v))
                .is_some_and(|s| is_metrics_path(&s))
            {
                let stmt = snippet(self.text(case));
                self.push(
                    Rule::MetricsRoute,
                    case,
                    format!("hand-made `/metrics` route: `{stmt}` in a switch on the request path"),
                    Rule::MetricsRoute.help(),
                );
            }
        }
    }

    fn finish(mut self, has_error: bool, lang: &str) -> Vec<Diagnostic> {
        if has_error {
            let (line, column, what) = self.first_error.take().unwrap_or((
                1,
                1,
                "the parser reported an error".to_owned(),
            ));
            let more = match self.error_count {
                0 | 1 => String::new(),
                n => format!(" ({} more syntax errors in this file)", n - 1),
            };
            self.out.push(Diagnostic::new(
                Rule::ParseError,
                self.path,
                line,
                column,
                format!("cannot parse {lang}: syntax error, {what}{more}"),
            ));
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_at(src: &str, file: &str, allowed: bool) -> Vec<(&'static str, u32)> {
        let path = Path::new(file);
        let mut parser = new_parser(is_javascript(path)).unwrap();
        let mut d = check_typescript(&mut parser, path, path, src.as_bytes(), allowed);
        crate::rules::sort_and_dedup(&mut d);
        d.iter().map(|d| (d.rule.id(), d.line)).collect()
    }

    fn check(src: &str) -> Vec<(&'static str, u32)> {
        check_at(src, "/repo/src/app.ts", false)
    }

    #[test]
    fn prom_client_in_every_form() {
        let src = "import client from 'prom-client';\n\
                   import { Counter, register } from \"prom-client\";\n\
                   import * as prom from 'prom-client';\n\
                   const c = require('prom-client');\n\
                   const m = await import('prom-client');\n\
                   import bundle from 'express-prom-bundle';\n\
                   import type { Registry } from 'prom-client/lib/registry';\n\
                   export { Counter } from 'prom-client';\n\
                   import x = require('swagger-stats');\n\
                   import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';\n\
                   import promClientish from 'prom-client-extra';\n";
        assert_eq!(
            check(src),
            (1..=9).map(|l| ("LNT-001", l)).collect::<Vec<_>>()
        );
        assert!(check_at(src, "/repo/src/observability/metrics.ts", true).is_empty());
    }

    #[test]
    fn telemetry_prom_specifiers() {
        let src = "import { c } from './telemetry/prom.js';\n\
                   import p from '../telemetry/prom';\n\
                   const q = require('@app/telemetry/prom/index.js');\n\
                   import o from './telemetry/otel_setup.js';\n\
                   import r from './telemetry/promql.js';\n";
        assert_eq!(
            check(src),
            vec![("LNT-001", 1), ("LNT-001", 2), ("LNT-001", 3)]
        );
        assert_eq!(
            check_at(
                "import p from './prom.js';\n",
                "/r/src/telemetry/x.ts",
                false
            ),
            vec![("LNT-001", 1)]
        );
        assert!(check_at("import p from './prom.js';\n", "/r/src/other/x.ts", false).is_empty());
    }

    #[test]
    fn metrics_routes() {
        let src = "app.get('/metrics', async (req, res) => { res.end(); });\n\
                   router.get(\"/metrics\", handler);\n\
                   fastify.get(`/metrics`, async () => '');\n\
                   app.on('GET', '/metrics', (c) => c.text(''));\n\
                   fastify.route({ method: 'GET', url: '/metrics', handler });\n\
                   http.createServer((req, res) => { if (req.url === '/metrics') { res.end(); } });\n\
                   if (url.pathname.startsWith('/metrics')) {}\n\
                   switch (req.url) {\n  case '/metrics':\n    break;\n}\n\
                   app.use('/metrics', metricsMiddleware);\n\
                   app.get('/health', (req, res) => res.end());\n\
                   const v = map.get('/metrics');\n\
                   axios.get('/metrics', { timeout: 1 });\n\
                   http.get('/metrics', (res) => {});\n\
                   fetch('/metrics');\n\
                   client.get('/metrics', { timeout: 5 });\n";
        assert_eq!(
            check(src),
            vec![1, 2, 3, 4, 5, 6, 7, 9, 12]
                .into_iter()
                .map(|l| ("LNT-003", l))
                .collect::<Vec<_>>()
        );
        assert!(check_at(src, "/r/src/observability/metrics.ts", true).is_empty());
    }

    #[test]
    fn mentions_are_not_imports() {
        let src = "// import client from 'prom-client';\n\
                   const s = \"require('prom-client')\";\n\
                   const prom = 3;\n\
                   function require2(x: string) { return x; }\n\
                   require2('prom-client');\n";
        assert!(check(src).is_empty(), "{:?}", check(src));
    }

    #[test]
    fn javascript_with_jsx_parses() {
        let src = "const el = <div className=\"a\">{x}</div>;\nconst c = require('prom-client');\n";
        assert_eq!(check_at(src, "/r/src/view.js", false), vec![("LNT-001", 2)]);
        assert_eq!(
            check_at("import c from 'prom-client';\n", "/r/a.mjs", false),
            vec![("LNT-001", 1)]
        );
    }

    #[test]
    fn syntax_errors_are_reported_and_the_rest_checked() {
        let d = check("const x = ;\nimport c from 'prom-client';\n");
        assert!(d.iter().any(|(r, _)| *r == "LNT-000"), "{d:?}");
        assert!(d.contains(&("LNT-001", 2)), "{d:?}");
    }

    #[test]
    fn prefilter_lets_every_rule_through() {
        for src in [
            "import c from 'prom-client'",
            "require('swagger-stats')",
            "import p from './prom.js'",
            "app.get('/metrics', h)",
            "import m from 'fastify-metrics'",
        ] {
            assert!(may_violate(src), "{src}");
        }
        assert!(!may_violate("import os from 'node:os';\n"));
    }

    #[test]
    fn snippets_drop_line_comments() {
        assert_eq!(snippet("import x from 'y'; // note"), "import x from 'y';");
        assert_eq!(snippet("f('http://a')"), "f('http://a')");
    }
}
