//! Rust sources, parsed with `syn` (full syntax tree, `visit`), line and
//! column from `proc-macro2` span locations. Pure: source text in,
//! diagnostics out.
//!
//! `LNT-001` is any reference to the `prometheus` crate: `use prometheus::…`
//! in every form (groups, renames, globs, `::prometheus`), `extern crate
//! prometheus` (with or without `#[macro_use]`), fully qualified
//! `prometheus::…` paths in types, expressions, patterns and macro paths
//! (`prometheus::register_int_counter!`), `prometheus::…` inside macro bodies
//! (`lazy_static! { … }`), and unqualified `register_*!`/`opts!` macros once
//! `#[macro_use] extern crate prometheus` imported them; plus any use of a
//! `telemetry::prom` module (the Rust twin of Python's `telemetry.prom`).
//! `LNT-003` is `.route("/metrics", …)`, `.nest("/metrics", …)` (and their
//! `_service` forms, also called as `Router::route(r, "/metrics", …)`) and
//! route attributes such as `#[get("/metrics")]`.
//! In the allowed module only the `telemetry::prom` check applies.

use std::path::Path;

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::visit::{self, Visit};
use syn::{Expr, Lit, UseTree};

use crate::rules::{Diagnostic, Rule};

/// Method names that register a route on an axum (or actix) router.
const ROUTE_METHODS: [&str; 4] = ["route", "nest", "route_service", "nest_service"];
/// Attribute macros that declare a route (actix-web, rocket, poem …).
const ROUTE_ATTRIBUTES: [&str; 9] = [
    "get", "post", "put", "patch", "delete", "head", "options", "route", "handler",
];
/// Prometheus macros that `#[macro_use] extern crate prometheus` brings in
/// besides `register_*!`.
const PROMETHEUS_MACROS: [&str; 3] = ["opts", "histogram_opts", "labels"];

/// Whether any rule could fire in `source`: it mentions `prometheus`,
/// `telemetry` or `/metrics`. Files without any of them need no parse.
pub fn may_violate(source: &str) -> bool {
    source.contains("prometheus") || source.contains("telemetry") || source.contains("/metrics")
}

/// Checks one Rust source file. `allowed_module` is true for the one module
/// allowed to use `prometheus` and serve `/metrics`.
///
/// A file `syn` cannot parse yields an `LNT-000` diagnostic; its tokens (when
/// they lex) are still scanned for `prometheus::…` paths.
///
/// Spans live in a thread-local source map of `proc-macro2` that grows with
/// every parsed file; long-running callers should call
/// `proc_macro2::extra::invalidate_current_thread_spans()` between files when
/// they hold no span of their own (the crate's walker does).
pub fn check_rust(path: &Path, source: &str, allowed_module: bool) -> Vec<Diagnostic> {
    let depth = bracket_depth(source);
    if depth > MAX_NESTING {
        // `syn` parses recursively: deep nesting would overflow the stack and
        // abort the whole lint run (found by fuzzing, issue 19).
        return vec![Diagnostic::new(
            Rule::ParseError,
            path,
            1,
            1,
            format!(
                "cannot parse Rust: brackets nest {depth} levels deep, more than the {MAX_NESTING} the lint parses; the file was not checked"
            ),
        )];
    }
    let mut checker = Checker {
        path,
        allowed: allowed_module,
        macro_use_prometheus: false,
        out: Vec::new(),
    };
    match syn::parse_file(source) {
        Ok(file) => {
            checker.macro_use_prometheus = file.items.iter().any(|item| {
                matches!(item, syn::Item::ExternCrate(e)
                    if e.ident == "prometheus" && e.attrs.iter().any(|a| a.path().is_ident("macro_use")))
            });
            checker.visit_file(&file);
        }
        Err(err) => {
            let (line, column) = location(err.span());
            checker.out.push(Diagnostic::new(
                Rule::ParseError,
                path,
                line,
                column,
                format!("cannot parse Rust: {err}"),
            ));
            if let Ok(tokens) = source.parse::<TokenStream>() {
                checker.scan_tokens(tokens);
            }
        }
    }
    checker.out
}

/// Deepest bracket nesting the Rust front end parses (`syn` recurses per
/// level; real code stays far below).
pub const MAX_NESTING: usize = 100;

/// The deepest nesting of `(`, `[` and `{` in `source`, outside string
/// literals and line comments (a cheap over-estimate elsewhere: a char
/// literal `'('` counts).
pub fn bracket_depth(source: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '(' | '[' | '{' => {
                depth += 1;
                max = max.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// 1-based line and column of a span start.
fn location(span: Span) -> (u32, u32) {
    let start = span.start();
    let line = u32::try_from(start.line).unwrap_or(u32::MAX).max(1);
    let column = u32::try_from(start.column).unwrap_or(u32::MAX - 1) + 1;
    (line, column)
}

/// True when `segments` names a `telemetry::prom` module (adjacent segments).
fn names_telemetry_prom<S: AsRef<str>>(segments: &[S]) -> bool {
    segments
        .windows(2)
        .any(|w| w[0].as_ref() == "telemetry" && w[1].as_ref() == "prom")
}

fn is_metrics_path(value: &str) -> bool {
    value == "/metrics" || value == "/metrics/"
}

fn is_metrics_literal(expr: &Expr) -> bool {
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => is_metrics_path(&s.value()),
        Expr::Group(g) => is_metrics_literal(&g.expr),
        Expr::Paren(p) => is_metrics_literal(&p.expr),
        _ => false,
    }
}

struct Checker<'a> {
    path: &'a Path,
    allowed: bool,
    macro_use_prometheus: bool,
    out: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn push(&mut self, rule: Rule, span: Span, message: String) {
        let (line, column) = location(span);
        self.out
            .push(Diagnostic::new(rule, self.path, line, column, message));
    }

    fn legacy_crate(&mut self, span: Span, what: &str) {
        if !self.allowed {
            self.push(
                Rule::LegacyImport,
                span,
                format!(
                    "`{what}` uses the legacy `prometheus` crate outside the allowed metrics module"
                ),
            );
        }
    }

    fn telemetry_prom(&mut self, span: Span, what: &str) {
        let (line, column) = location(span);
        self.out.push(
            Diagnostic::new(
                Rule::LegacyImport,
                self.path,
                line,
                column,
                format!("`{what}` uses the legacy `telemetry::prom` module"),
            )
            .with_help("telemetry::prom is retired: take the instruments from observability::metrics (OpenTelemetry)"),
        );
    }

    /// Walks a use tree, collecting the path of every leaf.
    fn walk_use(&mut self, tree: &UseTree, prefix: &mut Vec<(String, Span)>, leading_colon: bool) {
        let leaf = match tree {
            UseTree::Path(p) => {
                prefix.push((p.ident.to_string(), p.ident.span()));
                self.walk_use(&p.tree, prefix, leading_colon);
                prefix.pop();
                return;
            }
            UseTree::Group(g) => {
                for item in &g.items {
                    self.walk_use(item, prefix, leading_colon);
                }
                return;
            }
            UseTree::Name(n) => (n.ident.to_string(), n.ident.span(), None),
            UseTree::Rename(r) => (
                r.ident.to_string(),
                r.ident.span(),
                Some(r.rename.to_string()),
            ),
            UseTree::Glob(g) => ("*".to_owned(), g.star_token.spans[0], None),
        };
        let (name, leaf_span, rename) = leaf;
        let mut segments: Vec<&str> = prefix.iter().map(|(s, _)| s.as_str()).collect();
        segments.push(&name);
        let mut rendered = String::from(if leading_colon { "use ::" } else { "use " });
        rendered.push_str(&segments.join("::"));
        if let Some(rename) = rename {
            rendered.push_str(" as ");
            rendered.push_str(&rename);
        }
        let first_span = prefix.first().map_or(leaf_span, |(_, s)| *s);
        if segments.first() == Some(&"prometheus") {
            self.legacy_crate(first_span, &rendered);
        } else if names_telemetry_prom(&segments) {
            let span = segments
                .iter()
                .position(|s| *s == "prom")
                .and_then(|i| prefix.get(i).map(|(_, s)| *s))
                .unwrap_or(leaf_span);
            self.telemetry_prom(span, &rendered);
        }
    }

    /// Scans raw tokens (macro bodies, or a file `syn` could not parse) for
    /// `prometheus::…`, `use prometheus`, `extern crate prometheus` and
    /// `telemetry::prom`.
    fn scan_tokens(&mut self, tokens: TokenStream) {
        let toks: Vec<TokenTree> = tokens.into_iter().collect();
        for (i, tok) in toks.iter().enumerate() {
            match tok {
                TokenTree::Group(g) => self.scan_tokens(g.stream()),
                TokenTree::Ident(id) if id == "prometheus" => {
                    let next_is_sep = is_path_sep(&toks, i + 1);
                    // `x::prometheus` is someone's module, `::prometheus` is the crate.
                    let qualified_by_segment = i >= 3
                        && is_path_sep(&toks, i - 2)
                        && matches!(toks[i - 3], TokenTree::Ident(_));
                    let after_keyword = i >= 1
                        && matches!(&toks[i - 1], TokenTree::Ident(k)
                            if k == "use" || (k == "crate" && i >= 2
                                && matches!(&toks[i - 2], TokenTree::Ident(e) if e == "extern")));
                    if (next_is_sep && !qualified_by_segment) || after_keyword {
                        let mut rendered = String::from("prometheus");
                        let mut j = i + 1;
                        while is_path_sep(&toks, j)
                            && let Some(TokenTree::Ident(next)) = toks.get(j + 2)
                        {
                            rendered.push_str("::");
                            rendered.push_str(&next.to_string());
                            j += 3;
                        }
                        self.legacy_crate(id.span(), &rendered);
                    }
                }
                TokenTree::Ident(id)
                    if id == "telemetry"
                        && is_path_sep(&toks, i + 1)
                        && matches!(toks.get(i + 3), Some(TokenTree::Ident(p)) if p == "prom") =>
                {
                    self.telemetry_prom(id.span(), "telemetry::prom");
                }
                _ => {}
            }
        }
    }

    fn route(&mut self, span: Span, what: &str) {
        if !self.allowed {
            self.push(
                Rule::MetricsRoute,
                span,
                format!("hand-made `/metrics` route `{what}`"),
            );
        }
    }
}

/// `toks[i]` and `toks[i + 1]` form `::`.
fn is_path_sep(toks: &[TokenTree], i: usize) -> bool {
    matches!(
        (toks.get(i), toks.get(i + 1)),
        (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
            if a.as_char() == ':' && a.spacing() == proc_macro2::Spacing::Joint && b.as_char() == ':'
    )
}

impl<'ast> Visit<'ast> for Checker<'_> {
    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        self.walk_use(&item.tree, &mut Vec::new(), item.leading_colon.is_some());
        visit::visit_item_use(self, item);
    }

    fn visit_item_extern_crate(&mut self, item: &'ast syn::ItemExternCrate) {
        if item.ident == "prometheus" {
            let macro_use = item.attrs.iter().any(|a| a.path().is_ident("macro_use"));
            let what = match (&item.rename, macro_use) {
                (_, true) => "#[macro_use] extern crate prometheus".to_owned(),
                (Some((_, rename)), false) => format!("extern crate prometheus as {rename}"),
                (None, false) => "extern crate prometheus".to_owned(),
            };
            self.legacy_crate(item.ident.span(), &what);
        }
        visit::visit_item_extern_crate(self, item);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if let Some(first) = path.segments.first() {
            let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
            if first.ident == "prometheus" && (segments.len() > 1 || path.leading_colon.is_some()) {
                let what = segments.join("::");
                self.legacy_crate(first.ident.span(), &what);
            } else if names_telemetry_prom(&segments) {
                let span = path
                    .segments
                    .iter()
                    .find(|s| s.ident == "telemetry")
                    .map_or(first.ident.span(), |s| s.ident.span());
                self.telemetry_prom(span, &segments.join("::"));
            }
        }
        visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        visit::visit_macro(self, mac);
        if self.macro_use_prometheus
            && let Some(name) = mac.path.get_ident()
        {
            let name = name.to_string();
            if name.starts_with("register_") || PROMETHEUS_MACROS.contains(&name.as_str()) {
                self.legacy_crate(
                    mac.path.segments[0].ident.span(),
                    &format!("{name}! (from #[macro_use] extern crate prometheus)"),
                );
            }
        }
        self.scan_tokens(mac.tokens.clone());
    }

    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        let method = call.method.to_string();
        if ROUTE_METHODS.contains(&method.as_str())
            && call.args.first().is_some_and(is_metrics_literal)
        {
            self.route(call.method.span(), &format!(".{method}(\"/metrics\", …)"));
        }
        visit::visit_expr_method_call(self, call);
    }

    fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
        if let Expr::Path(p) = &*call.func
            && let Some(last) = p.path.segments.last()
        {
            let name = last.ident.to_string();
            if ROUTE_METHODS.contains(&name.as_str())
                && call.args.iter().take(2).any(is_metrics_literal)
            {
                let what: Vec<String> = p
                    .path
                    .segments
                    .iter()
                    .map(|s| s.ident.to_string())
                    .collect();
                self.route(
                    last.ident.span(),
                    &format!("{}(…, \"/metrics\", …)", what.join("::")),
                );
            }
        }
        visit::visit_expr_call(self, call);
    }

    fn visit_attribute(&mut self, attr: &'ast syn::Attribute) {
        if let syn::Meta::List(list) = &attr.meta
            && let Some(last) = list.path.segments.last()
            && ROUTE_ATTRIBUTES.contains(&last.ident.to_string().as_str())
            && matches!(list.delimiter, syn::MacroDelimiter::Paren(_))
            && let Some(TokenTree::Literal(lit)) = list.tokens.clone().into_iter().next()
            && let Ok(s) = syn::parse2::<syn::LitStr>(TokenTree::Literal(lit.clone()).into())
            && is_metrics_path(&s.value())
        {
            self.route(
                last.ident.span(),
                &format!("#[{}(\"/metrics\")]", last.ident),
            );
        }
        visit::visit_attribute(self, attr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules_at(src: &str, allowed: bool) -> Vec<(&'static str, u32)> {
        let mut d = check_rust(Path::new("x.rs"), src, allowed);
        crate::rules::sort_and_dedup(&mut d);
        d.iter().map(|d| (d.rule.id(), d.line)).collect()
    }

    #[test]
    fn use_forms_are_found() {
        let src = "use prometheus::Registry;\n\
                   use prometheus::{Counter, core::Collector};\n\
                   use prometheus as prom;\n\
                   use prometheus::*;\n\
                   use ::prometheus::Opts;\n\
                   use {std::io, prometheus::Gauge};\n\
                   pub use prometheus;\n";
        assert_eq!(
            rules_at(src, false),
            (1..=7).map(|l| ("LNT-001", l)).collect::<Vec<_>>()
        );
    }

    #[test]
    fn local_modules_named_prometheus_are_not_the_crate() {
        let src = "use crate::prometheus::X;\nuse self::prometheus::Y;\nfn f() { let prometheus = 1; let _ = prometheus + 1; }\n";
        assert!(rules_at(src, false).is_empty());
    }

    #[test]
    fn paths_types_and_macros_are_found() {
        let src = "fn f(r: &prometheus::Registry) {\n\
                   let c = prometheus::IntCounter::new(\"a\", \"b\");\n\
                   prometheus::register_int_counter!(\"x\", \"y\");\n\
                   lazy_static::lazy_static! { static ref G: u8 = { prometheus::gather(); 1 }; }\n\
                   }\n";
        assert_eq!(
            rules_at(src, false),
            vec![
                ("LNT-001", 1),
                ("LNT-001", 2),
                ("LNT-001", 3),
                ("LNT-001", 4)
            ]
        );
    }

    #[test]
    fn macro_use_brings_unqualified_macros() {
        let src = "#[macro_use]\nextern crate prometheus;\nfn f() {\n let c = register_int_counter!(\"a\", \"b\");\n let o = opts!(\"a\", \"b\");\n println!(\"x\");\n}\n";
        assert_eq!(
            rules_at(src, false),
            vec![("LNT-001", 2), ("LNT-001", 4), ("LNT-001", 5)]
        );
    }

    #[test]
    fn allowed_module_may_use_prometheus_and_serve_metrics() {
        let src = "use prometheus::Registry;\nfn f() { let r = axum::Router::new().route(\"/metrics\", get(h)); }\n";
        assert_eq!(rules_at(src, false), vec![("LNT-001", 1), ("LNT-003", 2)]);
        assert!(rules_at(src, true).is_empty());
    }

    #[test]
    fn routes_are_found_in_all_forms() {
        let src = "fn f() {\n\
                   let a = Router::new().route(\"/metrics\", get(h));\n\
                   let b = Router::new().nest(\"/metrics/\", other);\n\
                   let c = Router::route(r, \"/metrics\", get(h));\n\
                   let d = Router::new().route(\"/metricsz\", get(h));\n\
                   }\n\
                   #[get(\"/metrics\")]\n\
                   async fn m() {}\n";
        assert_eq!(
            rules_at(src, false),
            vec![
                ("LNT-003", 2),
                ("LNT-003", 3),
                ("LNT-003", 4),
                ("LNT-003", 7)
            ]
        );
    }

    #[test]
    fn telemetry_prom_is_found_even_in_allowed_module() {
        let src = "use crate::telemetry::prom;\nuse crate::telemetry::{prom::X, other};\nfn f() { crate::telemetry::prom::record(); }\n";
        assert_eq!(
            rules_at(src, true),
            vec![("LNT-001", 1), ("LNT-001", 2), ("LNT-001", 3)]
        );
    }

    #[test]
    fn unparsable_file_is_reported_and_still_scanned() {
        let src = "fn f( {\n}\nuse prometheus::Registry;\n";
        let d = check_rust(Path::new("x.rs"), src, false);
        assert!(d.iter().any(|d| d.rule == Rule::ParseError), "{d:?}");
        let src = "fn f() { let x = ; }\nuse prometheus::Registry;\n";
        let d = check_rust(Path::new("x.rs"), src, false);
        assert!(d.iter().any(|d| d.rule == Rule::ParseError));
        assert!(
            d.iter()
                .any(|d| d.rule == Rule::LegacyImport && d.line == 2),
            "{d:?}"
        );
    }

    #[test]
    fn prefilter_lets_every_rule_through() {
        assert!(may_violate("use prometheus::X;"));
        assert!(may_violate("use crate::telemetry::prom;"));
        assert!(may_violate("r.route(\"/metrics\", h)"));
        assert!(!may_violate("fn main() { let prom = 1; }"));
    }

    #[test]
    fn columns_are_one_based() {
        let d = check_rust(
            Path::new("x.rs"),
            "fn f() { let r: prometheus::Registry; }\n",
            false,
        );
        assert_eq!((d[0].line, d[0].column), (1, 17));
    }
}
