//! Go: functions, methods (named `Receiver.Method`), struct and interface
//! types (one chunk per type spec, also inside `type ( … )` groups). Other
//! type specs, aliases and constants are symbols only.

use tree_sitter::Node;

use super::{ChunkKind, Ctx, DefMatch, LangSpec, field_text, node_text};

pub(super) static SPEC: LangSpec = LangSpec {
    grammar,
    classify,
    attached: &["comment"],
    separator: ".",
};

fn grammar() -> tree_sitter::Language {
    tree_sitter_go::LANGUAGE.into()
}

/// `(s *Store)` → `Store`, `(l List[T])` → `List`.
fn receiver_type(method: Node<'_>, src: &[u8]) -> Option<String> {
    let receiver = method.child_by_field_name("receiver")?;
    let mut cursor = receiver.walk();
    let param = receiver
        .named_children(&mut cursor)
        .find(|n| n.kind() == "parameter_declaration")?;
    let ty = node_text(param.child_by_field_name("type")?, src);
    let ty = ty.trim_start_matches('*').trim();
    let base = ty.split('[').next().unwrap_or(ty).trim();
    (!base.is_empty()).then(|| base.to_owned())
}

fn classify<'t>(node: Node<'t>, src: &[u8], ctx: Ctx) -> Vec<DefMatch<'t>> {
    match node.kind() {
        "function_declaration" => field_text(node, "name", src)
            .map(|name| DefMatch::new(ctx.function_kind(), name, node))
            .into_iter()
            .collect(),
        "method_declaration" => field_text(node, "name", src)
            .map(|name| {
                let full = match receiver_type(node, src) {
                    Some(recv) => format!("{recv}.{name}"),
                    None => name,
                };
                DefMatch::new(ChunkKind::Method, full, node)
            })
            .into_iter()
            .collect(),
        "type_declaration" => type_specs(node, src),
        "const_declaration" => {
            let mut cursor = node.walk();
            let specs: Vec<Node<'t>> = node
                .named_children(&mut cursor)
                .filter(|n| n.kind() == "const_spec")
                .collect();
            specs
                .into_iter()
                .flat_map(|spec| {
                    let mut c = spec.walk();
                    spec.children_by_field_name("name", &mut c)
                        .filter(tree_sitter::Node::is_named)
                        .map(|n| {
                            DefMatch::new(ChunkKind::Constant, node_text(n, src).to_owned(), spec)
                                .symbol_only()
                        })
                        .collect::<Vec<_>>()
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

fn type_specs<'t>(decl: Node<'t>, src: &[u8]) -> Vec<DefMatch<'t>> {
    let mut cursor = decl.walk();
    let specs: Vec<Node<'t>> = decl
        .named_children(&mut cursor)
        .filter(|n| matches!(n.kind(), "type_spec" | "type_alias"))
        .collect();
    let grouped = specs.len() > 1;
    specs
        .into_iter()
        .filter_map(|spec| {
            let name = field_text(spec, "name", src)?;
            let ty_kind = spec.child_by_field_name("type").map(|t| t.kind());
            let kind = match (spec.kind(), ty_kind) {
                ("type_spec", Some("struct_type")) => ChunkKind::Struct,
                ("type_spec", Some("interface_type")) => ChunkKind::Interface,
                _ => ChunkKind::TypeAlias,
            };
            let m = DefMatch::new(kind, name, spec);
            let m = if grouped { m } else { m.outer(decl) };
            Some(if kind == ChunkKind::TypeAlias {
                m.symbol_only()
            } else {
                m
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{assert_covered, chunk, spans, symbols};

    const SRC: &str = r#"package auth

import (
	"errors"
	"time"
)

const (
	MinLen, MaxLen = 8, 64
)

// ErrWeak is returned for weak passwords.
var ErrWeak = errors.New("weak")

// Limiter is a token bucket.
type Limiter struct {
	tokens float64
}

type (
	Clock interface {
		Now() time.Time
	}
	Seconds int
)

// Allow takes one token.
func (l *Limiter) Allow() bool {
	return l.tokens > 0
}

func HashPassword(pw string) (string, error) {
	return pw, nil
}
"#;

    #[test]
    fn go_chunks_and_symbols() {
        let out = chunk("auth/ratelimit.go", SRC);
        assert_eq!(
            spans(&out),
            vec![
                (1, 13, "module", None),
                (15, 18, "struct", Some("Limiter".into())),
                (20, 20, "module", None),
                (21, 23, "interface", Some("Clock".into())),
                (24, 25, "module", None),
                (27, 30, "method", Some("Limiter.Allow".into())),
                (32, 34, "function", Some("HashPassword".into())),
            ]
        );
        assert_eq!(
            symbols(&out),
            vec![
                ("MaxLen".into(), "constant", 9, 9),
                ("MinLen".into(), "constant", 9, 9),
                ("Limiter".into(), "struct", 16, 18),
                ("Clock".into(), "interface", 21, 23),
                ("Seconds".into(), "type_alias", 24, 24),
                ("Limiter.Allow".into(), "method", 28, 30),
                ("HashPassword".into(), "function", 32, 34),
            ]
        );
        assert_covered(SRC, &out);
    }
}
