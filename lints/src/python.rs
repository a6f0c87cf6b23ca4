//! Python sources, parsed with `tree-sitter-python` (handles 3.12: `type`
//! statements, PEP 695 generics, `match`, PEP 701 f-strings). Pure apart
//! from the parser handed in: bytes in, diagnostics out.
//!
//! `LNT-001`: `import prometheus_client[.x]` / `from prometheus_client[.x]
//! import …` outside the allowed module; any import of a `telemetry.prom`
//! module, in every spelling (`from a.telemetry.prom import x`,
//! `from a.telemetry import prom`, `import a.telemetry.prom as p`, relative
//! `from .prom import x` inside a `telemetry` package, `from ..telemetry.prom
//! import x`, `from . import prom`, and `importlib.import_module("…")` /
//! `__import__("…")` with a literal name, resolved against `package=`), also
//! in functions, `try:` blocks and `if TYPE_CHECKING:`.
//! `LNT-003`: `@app.get("/metrics")` (any HTTP-verb or `route` decorator),
//! `add_route("/metrics", …)`, `add_api_route`, `add_url_rule`, `mount("/metrics",
//! …)`, `Route("/metrics", …)`/`Mount(…)`, and `make_asgi_app()` /
//! `make_wsgi_app()` mounted by the application (directly, through a variable
//! or in a `DispatcherMiddleware` mapping).
//! `LNT-000`: a syntax error (tree-sitter `ERROR`/`MISSING` nodes) or bytes
//! that are not UTF-8; the rules still run on what parsed.

use std::borrow::Cow;
use std::collections::HashSet;
use std::path::{Component, Path};

use tree_sitter::{Node, Parser};

use crate::rules::{Diagnostic, Rule};

/// Calls on an object (`x.route(...)`) that register a route.
const ATTR_ROUTE_CALLS: [&str; 11] = [
    "route",
    "api_route",
    "add_route",
    "add_api_route",
    "add_url_rule",
    "add_get",
    "add_api_websocket_route",
    "mount",
    "Route",
    "Mount",
    "APIRoute",
];
/// Bare calls (`Route(...)`) that build a route.
const BARE_ROUTE_CALLS: [&str; 3] = ["Route", "Mount", "APIRoute"];
/// Decorators (`@x.get(...)`) that declare a route.
const DECORATOR_ROUTES: [&str; 10] = [
    "get",
    "post",
    "put",
    "patch",
    "delete",
    "head",
    "options",
    "route",
    "api_route",
    "websocket",
];
/// Calls that mount an ASGI/WSGI sub-application.
const MOUNT_CALLS: [&str; 5] = [
    "mount",
    "Mount",
    "add_route",
    "DispatcherMiddleware",
    "add_url_rule",
];
/// prometheus_client's ready-made scrape applications.
const METRICS_APPS: [&str; 2] = ["make_asgi_app", "make_wsgi_app"];

const PROM_CLIENT_HELP: &str =
    "declare instruments once in observability/metrics.py and record through OpenTelemetry";
const TELEMETRY_PROM_HELP: &str =
    "telemetry.prom is retired: take the instruments from observability.metrics (OpenTelemetry)";

/// Whether any rule could fire in `source`: it mentions `prom` (covers
/// `prometheus_client`, `telemetry.prom`, `.prom`), `/metrics`,
/// `make_asgi_app` or `make_wsgi_app`. Files without any of them need no parse.
pub fn may_violate(source: &str) -> bool {
    source.contains("prom")
        || source.contains("/metrics")
        || source.contains("make_asgi_app")
        || source.contains("make_wsgi_app")
}

/// A tree-sitter parser for Python.
pub fn new_parser() -> Result<Parser, tree_sitter::LanguageError> {
    let mut parser = Parser::new();
    parser.set_language(&tree_sitter_python::LANGUAGE.into())?;
    Ok(parser)
}

/// Checks one Python file.
///
/// * `path` is the path reported in diagnostics;
/// * `context` is where the file lives (best absolute), used only to resolve
///   relative imports (`from .prom import x` inside a `telemetry` package);
/// * `allowed_module` is true for `observability/metrics.py` (it may import
///   `prometheus_client` and serve `/metrics`; `telemetry.prom` stays banned).
pub fn check_python(
    parser: &mut Parser,
    path: &Path,
    context: &Path,
    source: &[u8],
    allowed_module: bool,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let source = source.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(source);
    let text: Cow<'_, str> = match std::str::from_utf8(source) {
        Ok(s) => Cow::Borrowed(s),
        Err(e) => {
            out.push(crate::rules::not_utf8(
                path,
                source,
                e.valid_up_to(),
                declared_encoding(source).filter(|e| {
                    !e.eq_ignore_ascii_case("utf-8") && !e.eq_ignore_ascii_case("utf8")
                }),
            ));
            String::from_utf8_lossy(source)
        }
    };
    let Some(tree) = parser.parse(text.as_bytes(), None) else {
        out.push(Diagnostic::new(
            Rule::ParseError,
            path,
            1,
            1,
            "cannot parse Python: the parser returned no tree",
        ));
        return out;
    };
    let package: Vec<String> = context
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
        package,
        allowed: allowed_module,
        out,
        asgi_names: HashSet::new(),
        pending_mounts: Vec::new(),
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
    ctx.finish(root.has_error())
}

/// A PEP 263 `coding:` declaration in the first two lines, if any.
fn declared_encoding(source: &[u8]) -> Option<String> {
    for line in source.split(|b| *b == b'\n').take(2) {
        let line = String::from_utf8_lossy(line);
        let trimmed = line.trim_start();
        if !trimmed.starts_with('#') {
            continue;
        }
        let at = trimmed.find("coding")?;
        let rest = &trimmed[at + "coding".len()..];
        let rest = rest.strip_prefix([':', '='])?.trim_start();
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect();
        if !name.is_empty() {
            return Some(name);
        }
    }
    None
}

fn is_metrics_path(value: &str) -> bool {
    value == "/metrics" || value == "/metrics/"
}

fn names_telemetry_prom<S: AsRef<str>>(segments: &[S]) -> bool {
    segments
        .windows(2)
        .any(|w| w[0].as_ref() == "telemetry" && w[1].as_ref() == "prom")
}

/// `line` without a trailing `# comment` (a `#` inside a string literal is kept).
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (Some(_), _) if escaped => escaped = false,
            (Some(_), '\\') => escaped = true,
            (Some(q), c) if c == q => quote = None,
            (None, '"' | '\'') => quote = Some(c),
            (None, '#') => return line[..i].trim_end(),
            _ => {}
        }
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

struct PendingMount {
    names: Vec<String>,
    line: u32,
    column: u32,
    call: String,
}

struct Ctx<'s, 'p> {
    src: &'s str,
    path: &'p Path,
    /// Directory components of the file, for relative imports.
    package: Vec<String>,
    allowed: bool,
    out: Vec<Diagnostic>,
    /// Variables assigned `make_asgi_app()` / `make_wsgi_app()`.
    asgi_names: HashSet<String>,
    /// Mount calls whose arguments name variables, resolved at the end.
    pending_mounts: Vec<PendingMount>,
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
            "import_statement" => self.import(node),
            "import_from_statement" => self.import_from(node),
            "call" => self.call(node),
            "decorator" => self.decorator(node),
            "assignment" => self.assignment(node),
            _ => {}
        }
    }

    fn segments(&self, dotted: Node<'_>) -> Vec<&'s str> {
        let mut cursor = dotted.walk();
        dotted
            .named_children(&mut cursor)
            .filter(|n| n.kind() == "identifier")
            .map(|n| self.text(n))
            .collect()
    }

    /// Checks an absolute module path (`absolute`: spelled without dots, so it
    /// may be `prometheus_client`).
    fn check_module<S: AsRef<str>>(
        &mut self,
        segments: &[S],
        absolute: bool,
        at: Node<'_>,
        stmt: Node<'_>,
    ) {
        let stmt = snippet(self.text(stmt));
        if absolute
            && !self.allowed
            && segments
                .first()
                .is_some_and(|s| s.as_ref() == "prometheus_client")
        {
            self.push(
                Rule::LegacyImport,
                at,
                format!("`{stmt}` imports the legacy `prometheus_client` outside observability/metrics.py"),
                PROM_CLIENT_HELP,
            );
        } else if names_telemetry_prom(segments) {
            self.push(
                Rule::LegacyImport,
                at,
                format!("`{stmt}` imports the legacy `telemetry.prom` module"),
                TELEMETRY_PROM_HELP,
            );
        }
    }

    fn import(&mut self, node: Node<'_>) {
        let mut cursor = node.walk();
        let names: Vec<Node<'_>> = node.children_by_field_name("name", &mut cursor).collect();
        for name in names {
            let dotted = if name.kind() == "aliased_import" {
                name.child_by_field_name("name")
            } else {
                Some(name)
            };
            if let Some(dotted) = dotted {
                let segments = self.segments(dotted);
                self.check_module(&segments, true, dotted, node);
            }
        }
    }

    /// `package` with `dots - 1` trailing components dropped, then `rest`.
    fn resolve_relative(&self, dots: usize, rest: &[&str]) -> Vec<String> {
        let keep = self.package.len().saturating_sub(dots.saturating_sub(1));
        self.package[..keep]
            .iter()
            .cloned()
            .chain(rest.iter().map(|s| (*s).to_owned()))
            .collect()
    }

    fn import_from(&mut self, node: Node<'_>) {
        let Some(module) = node.child_by_field_name("module_name") else {
            return;
        };
        let (resolved, absolute): (Vec<String>, bool) = match module.kind() {
            "dotted_name" => (
                self.segments(module)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                true,
            ),
            "relative_import" => {
                let mut cursor = module.walk();
                let mut dots = 0;
                let mut rest = Vec::new();
                for child in module.named_children(&mut cursor) {
                    match child.kind() {
                        "import_prefix" => {
                            dots = self.text(child).chars().filter(|c| *c == '.').count();
                        }
                        "dotted_name" => rest = self.segments(child),
                        _ => {}
                    }
                }
                (self.resolve_relative(dots, &rest), false)
            }
            _ => return,
        };
        let flagged_before = self.out.len();
        self.check_module(&resolved, absolute, module, node);
        if self.out.len() > flagged_before
            || resolved.last().map(String::as_str) != Some("telemetry")
        {
            return;
        }
        // `from a.telemetry import prom` / `from . import prom` in a telemetry package.
        let mut cursor = node.walk();
        let names: Vec<Node<'_>> = node.children_by_field_name("name", &mut cursor).collect();
        for name in names {
            let dotted = if name.kind() == "aliased_import" {
                name.child_by_field_name("name")
            } else {
                Some(name)
            };
            if let Some(dotted) = dotted
                && self.segments(dotted).first() == Some(&"prom")
            {
                let stmt = snippet(self.text(node));
                self.push(
                    Rule::LegacyImport,
                    dotted,
                    format!("`{stmt}` imports the legacy `telemetry.prom` module"),
                    TELEMETRY_PROM_HELP,
                );
            }
        }
    }

    /// The value of a plain string literal (no interpolation).
    fn string_value(&self, node: Node<'_>) -> Option<String> {
        if node.kind() != "string" {
            return None;
        }
        let mut cursor = node.walk();
        let mut value = String::new();
        for child in node.children(&mut cursor) {
            match child.kind() {
                "interpolation" => return None,
                "string_content" => value.push_str(self.text(child)),
                _ => {}
            }
        }
        Some(value)
    }

    fn route_path_argument(&self, args: Node<'_>) -> Option<String> {
        let mut cursor = args.walk();
        let mut keyword = None;
        for arg in args.named_children(&mut cursor) {
            match arg.kind() {
                "keyword_argument" => {
                    let name = arg.child_by_field_name("name").map(|n| self.text(n));
                    if matches!(name, Some("path" | "rule")) {
                        keyword = arg.child_by_field_name("value");
                    }
                }
                "comment" | "list_splat" | "dictionary_splat" => {}
                _ => return self.string_value(arg),
            }
        }
        keyword.and_then(|n| self.string_value(n))
    }

    fn keyword_string(&self, args: Node<'_>, keyword: &str) -> Option<String> {
        let mut cursor = args.walk();
        args.named_children(&mut cursor)
            .filter(|a| a.kind() == "keyword_argument")
            .find(|a| a.child_by_field_name("name").map(|n| self.text(n)) == Some(keyword))
            .and_then(|a| a.child_by_field_name("value"))
            .and_then(|v| self.string_value(v))
    }

    fn first_positional_string(&self, args: Node<'_>) -> Option<String> {
        let mut cursor = args.walk();
        args.named_children(&mut cursor)
            .find(|a| {
                !matches!(
                    a.kind(),
                    "comment" | "keyword_argument" | "list_splat" | "dictionary_splat"
                )
            })
            .and_then(|a| self.string_value(a))
    }

    /// `(object text, name)` of a call's function: `x.y(...)` → `(Some("x"), "y")`.
    fn callee(&self, call: Node<'_>) -> Option<(Option<&'s str>, &'s str)> {
        let func = call.child_by_field_name("function")?;
        match func.kind() {
            "identifier" => Some((None, self.text(func))),
            "attribute" => Some((
                func.child_by_field_name("object").map(|o| self.text(o)),
                self.text(func.child_by_field_name("attribute")?),
            )),
            _ => None,
        }
    }

    /// The node to report a call at: its attribute name when it has one.
    fn call_anchor(call: Node<'_>) -> Node<'_> {
        call.child_by_field_name("function")
            .and_then(|f| f.child_by_field_name("attribute").or(Some(f)))
            .unwrap_or(call)
    }

    fn call(&mut self, node: Node<'_>) {
        let Some((object, name)) = self.callee(node) else {
            return;
        };
        let Some(args) = node.child_by_field_name("arguments") else {
            return;
        };
        if args.kind() != "argument_list" {
            return;
        }
        let dynamic_import = (name == "import_module" && object.is_none_or(|o| o == "importlib"))
            || (name == "__import__" && object.is_none());
        if dynamic_import {
            if let Some(module) = self.first_positional_string(args) {
                let dots = module.chars().take_while(|c| *c == '.').count();
                let rest: Vec<&str> = module[dots..]
                    .split('.')
                    .filter(|s| !s.is_empty())
                    .collect();
                let segments: Vec<String> = if dots == 0 {
                    rest.iter().map(|s| (*s).to_owned()).collect()
                } else {
                    let package = self.keyword_string(args, "package").unwrap_or_default();
                    let base: Vec<&str> = package.split('.').filter(|s| !s.is_empty()).collect();
                    let keep = base.len().saturating_sub(dots - 1);
                    base[..keep]
                        .iter()
                        .chain(rest.iter())
                        .map(|s| (*s).to_owned())
                        .collect()
                };
                self.check_module(&segments, dots == 0, node, node);
            }
            return;
        }
        if self.allowed {
            return;
        }
        let route_call = if object.is_some() {
            ATTR_ROUTE_CALLS.contains(&name)
        } else {
            BARE_ROUTE_CALLS.contains(&name)
        };
        if route_call
            && self
                .route_path_argument(args)
                .is_some_and(|p| is_metrics_path(&p))
        {
            let stmt = snippet(self.text(node));
            self.push(
                Rule::MetricsRoute,
                Self::call_anchor(node),
                format!("hand-made `/metrics` route `{stmt}`"),
                Rule::MetricsRoute.help(),
            );
            return;
        }
        if MOUNT_CALLS.contains(&name) {
            let mut names = Vec::new();
            if self.mounts_metrics_app(args, &mut names, 0) {
                let stmt = snippet(self.text(node));
                self.push(
                    Rule::MetricsRoute,
                    Self::call_anchor(node),
                    format!("`{stmt}` mounts prometheus_client's scrape app as a hand-made /metrics endpoint"),
                    Rule::MetricsRoute.help(),
                );
            } else if !names.is_empty() {
                let (line, column) = self.pos(Self::call_anchor(node));
                self.pending_mounts.push(PendingMount {
                    names,
                    line,
                    column,
                    call: snippet(self.text(node)),
                });
            }
        }
    }

    /// Whether the arguments hold a `make_asgi_app()` call or a `"/metrics"`
    /// mapping key; collects bare variable names to check once all
    /// assignments were seen.
    fn mounts_metrics_app(&self, node: Node<'_>, names: &mut Vec<String>, depth: usize) -> bool {
        if depth > 6 {
            return false;
        }
        match node.kind() {
            "call" => {
                if self
                    .callee(node)
                    .is_some_and(|(_, n)| METRICS_APPS.contains(&n))
                {
                    return true;
                }
                if let Some(args) = node.child_by_field_name("arguments") {
                    return self.mounts_metrics_app(args, names, depth + 1);
                }
                return false;
            }
            "identifier" => {
                names.push(self.text(node).to_owned());
                return false;
            }
            "pair"
                if node
                    .child_by_field_name("key")
                    .and_then(|k| self.string_value(k))
                    .is_some_and(|k| is_metrics_path(&k)) =>
            {
                return true;
            }
            "lambda" => return false,
            _ => {}
        }
        let mut cursor = node.walk();
        let children: Vec<Node<'_>> = node.named_children(&mut cursor).collect();
        children
            .into_iter()
            .any(|c| self.mounts_metrics_app(c, names, depth + 1))
    }

    fn decorator(&mut self, node: Node<'_>) {
        if self.allowed {
            return;
        }
        let Some(call) = node.named_child(0).filter(|n| n.kind() == "call") else {
            return;
        };
        let Some((Some(_), name)) = self.callee(call) else {
            return;
        };
        if !DECORATOR_ROUTES.contains(&name) {
            return;
        }
        if let Some(args) = call.child_by_field_name("arguments")
            && self
                .route_path_argument(args)
                .is_some_and(|p| is_metrics_path(&p))
        {
            let stmt = snippet(self.text(node));
            self.push(
                Rule::MetricsRoute,
                Self::call_anchor(call),
                format!("hand-made `/metrics` route `{stmt}`"),
                Rule::MetricsRoute.help(),
            );
        }
    }

    fn assignment(&mut self, node: Node<'_>) {
        if let (Some(left), Some(right)) = (
            node.child_by_field_name("left"),
            node.child_by_field_name("right"),
        ) && left.kind() == "identifier"
            && right.kind() == "call"
            && self
                .callee(right)
                .is_some_and(|(_, n)| METRICS_APPS.contains(&n))
        {
            self.asgi_names.insert(self.text(left).to_owned());
        }
    }

    fn finish(mut self, has_error: bool) -> Vec<Diagnostic> {
        for mount in std::mem::take(&mut self.pending_mounts) {
            if mount.names.iter().any(|n| self.asgi_names.contains(n)) {
                self.out.push(
                    Diagnostic::new(
                        Rule::MetricsRoute,
                        self.path,
                        mount.line,
                        mount.column,
                        format!(
                            "`{}` mounts prometheus_client's scrape app as a hand-made /metrics endpoint",
                            mount.call
                        ),
                    )
                    .with_help(Rule::MetricsRoute.help()),
                );
            }
        }
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
                format!("cannot parse Python: syntax error, {what}{more}"),
            ));
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_at(src: &str, context: &str, allowed: bool) -> Vec<(&'static str, u32)> {
        let mut parser = new_parser().unwrap();
        let mut d = check_python(
            &mut parser,
            Path::new("x.py"),
            Path::new(context),
            src.as_bytes(),
            allowed,
        );
        crate::rules::sort_and_dedup(&mut d);
        d.iter().map(|d| (d.rule.id(), d.line)).collect()
    }

    fn check(src: &str) -> Vec<(&'static str, u32)> {
        check_at(src, "/repo/app/x.py", false)
    }

    #[test]
    fn prometheus_client_imports() {
        let src = "import prometheus_client\nfrom prometheus_client import Counter\nimport os, prometheus_client.core as c\nimport prometheus_client_ext\nfrom prometheus_api import x\n";
        assert_eq!(
            check(src),
            vec![("LNT-001", 1), ("LNT-001", 2), ("LNT-001", 3)]
        );
        assert!(check_at(src, "/repo/observability/metrics.py", true).is_empty());
    }

    #[test]
    fn telemetry_prom_spellings() {
        let src = "from codeintel_rev.telemetry.prom import x\n\
                   from codeintel_rev.telemetry import prom\n\
                   from codeintel_rev.telemetry import other, prom as p\n\
                   import a.telemetry.prom as p\n\
                   from ..telemetry.prom import x\n\
                   from ..telemetry import prom\n\
                   from codeintel_rev.telemetry import promql\n";
        assert_eq!(
            check(src),
            (1..=6).map(|l| ("LNT-001", l)).collect::<Vec<_>>()
        );
    }

    #[test]
    fn relative_imports_inside_a_telemetry_package() {
        let src = "from .prom import x\nfrom . import prom\nfrom .otel_setup import y\n";
        assert_eq!(
            check_at(src, "/repo/pkg/telemetry/x.py", false),
            vec![("LNT-001", 1), ("LNT-001", 2)]
        );
        assert!(check_at(src, "/repo/pkg/other/x.py", false).is_empty());
        assert_eq!(
            check_at("from ..prom import x\n", "/r/telemetry/sub/x.py", false),
            vec![("LNT-001", 1)]
        );
    }

    #[test]
    fn dynamic_imports_with_literals() {
        let src = "import importlib\n\
                   m = importlib.import_module(\"codeintel_rev.telemetry.prom\")\n\
                   n = importlib.import_module(\".prom\", package=\"codeintel_rev.telemetry\")\n\
                   o = __import__(\"prometheus_client\")\n\
                   name = \"x\"\n\
                   p = importlib.import_module(f\"codeintel_rev.telemetry.{name}\")\n\
                   q = importlib.import_module(\"codeintel_rev.telemetry.otel_setup\")\n";
        assert_eq!(
            check(src),
            vec![("LNT-001", 2), ("LNT-001", 3), ("LNT-001", 4)]
        );
    }

    #[test]
    fn nested_imports_count() {
        let src = "from typing import TYPE_CHECKING\n\
                   if TYPE_CHECKING:\n    from prometheus_client import Counter\n\
                   try:\n    import prometheus_client\nexcept ImportError:\n    pass\n\
                   def f():\n    from a.telemetry import prom\n    return prom\n";
        assert_eq!(
            check(src),
            vec![("LNT-001", 3), ("LNT-001", 5), ("LNT-001", 9)]
        );
    }

    #[test]
    fn mentions_are_not_imports() {
        let src = "# import prometheus_client\n\
                   s = \"from codeintel_rev.telemetry.prom import x\"\n\
                   prom = 3\n\
                   def f(prom):\n    return prom.value\n\
                   requests.get(\"/metrics\")\n\
                   d.get(\"/metrics\")\n";
        assert!(check(src).is_empty(), "{:?}", check(src));
    }

    #[test]
    fn metrics_routes() {
        let src = "@app.get(\"/metrics\")\n\
                   def m(): ...\n\
                   @router.route(\"/metrics\", methods=[\"GET\"])\n\
                   def n(): ...\n\
                   app.add_route(\"/metrics\", handler)\n\
                   app.mount(\"/metrics\", sub)\n\
                   routes = [Route(\"/metrics\", endpoint=h)]\n\
                   app.mount(\"/prom\", make_asgi_app())\n\
                   metrics_app = make_asgi_app()\n\
                   app.mount(\"/scrape\", metrics_app)\n\
                   app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {\"/metrics\": make_wsgi_app()})\n\
                   @app.get(\"/health\")\n\
                   def h(): ...\n\
                   app.mount(\"/static\", static_files)\n";
        assert_eq!(
            check(src),
            vec![1, 3, 5, 6, 7, 8, 10, 11]
                .into_iter()
                .map(|l| ("LNT-003", l))
                .collect::<Vec<_>>()
        );
        assert!(check_at(src, "/r/observability/metrics.py", true).is_empty());
    }

    #[test]
    fn python_312_syntax_parses_cleanly() {
        let src = "type Point[T] = tuple[T, T]\n\
                   def first[T: (int, str), *Ts, **P](xs: list[T]) -> T:\n    return xs[0]\n\
                   class Box[T]:\n    pass\n\
                   match cmd:\n    case [\"go\", d]:\n        pass\n    case _:\n        pass\n\
                   songs = {\"a\": 1}\n\
                   msg = f\"{songs[\"a\"]} and {f\"{1 + 1}\"}\"\n\
                   import prometheus_client\n";
        assert_eq!(check(src), vec![("LNT-001", 13)]);
    }

    #[test]
    fn syntax_errors_are_reported_and_the_rest_checked() {
        let d = check("def f(:\n    pass\nimport prometheus_client\n");
        assert!(d.contains(&("LNT-000", 1)), "{d:?}");
        assert!(d.contains(&("LNT-001", 3)), "{d:?}");
    }

    #[test]
    fn non_utf8_is_reported_not_fatal() {
        let mut parser = new_parser().unwrap();
        let src = b"# coding: latin-1\nname = '\xe9t\xe9'\nimport prometheus_client\n";
        let d = check_python(
            &mut parser,
            Path::new("x.py"),
            Path::new("/r/x.py"),
            src,
            false,
        );
        let parse = d.iter().find(|d| d.rule == Rule::ParseError).unwrap();
        assert_eq!((parse.line, parse.column), (2, 9));
        assert!(
            parse.message.contains("0xe9") && parse.message.contains("latin-1"),
            "{}",
            parse.message
        );
        assert!(
            d.iter()
                .any(|d| d.rule == Rule::LegacyImport && d.line == 3)
        );
    }

    #[test]
    fn snippets_drop_comments_but_not_hashes_in_strings() {
        assert_eq!(snippet("import x  # note"), "import x");
        assert_eq!(snippet("f(\"#a\", '#b')  # c"), "f(\"#a\", '#b')");
        assert_eq!(snippet("f(\"a\\\"#\")"), "f(\"a\\\"#\")");
        assert_eq!(
            snippet("from x import (  # c\n    y,\n)"),
            "from x import (…"
        );
    }

    #[test]
    fn prefilter_lets_every_rule_through() {
        for src in [
            "import prometheus_client",
            "from . import prom",
            "importlib.import_module('.prom', package='a.telemetry')",
            "@app.get('/metrics')",
            "app.mount('/x', make_asgi_app())",
            "DispatcherMiddleware(a, {'/m': make_wsgi_app()})",
        ] {
            assert!(may_violate(src), "{src}");
        }
        assert!(!may_violate("import os\nmetrics = 1\n"));
    }

    #[test]
    fn columns_count_characters() {
        let mut parser = new_parser().unwrap();
        let src = "x = 'é'; import prometheus_client\n";
        let d = check_python(
            &mut parser,
            Path::new("x.py"),
            Path::new("/r/x.py"),
            src.as_bytes(),
            false,
        );
        assert_eq!((d[0].line, d[0].column), (1, 17));
    }
}
