//! Rust: functions, methods (`Type::method` inside `impl` / `trait`),
//! structs, unions, enums, traits and impls (containers), inline modules
//! (containers), `macro_rules!`. Constants, statics, type aliases and trait
//! method signatures are symbols only. Doc comments and attributes directly
//! above an item start its chunk.

use tree_sitter::Node;

use super::{ChunkKind, Ctx, DefMatch, LangSpec, field_text, node_text};

pub(super) static SPEC: LangSpec = LangSpec {
    grammar,
    classify,
    attached: &["line_comment", "block_comment", "attribute_item"],
    separator: "::",
};

fn grammar() -> tree_sitter::Language {
    tree_sitter_rust::LANGUAGE.into()
}

fn named<'t>(node: Node<'t>, src: &[u8], kind: ChunkKind) -> Option<DefMatch<'t>> {
    field_text(node, "name", src).map(|name| DefMatch::new(kind, name, node))
}

/// `Vec<T>` → `Vec`, `crate::a::Bar` → `Bar`, `&'a mut Foo` → `Foo`.
fn base_type_name(text: &str) -> String {
    let no_generics = text.split('<').next().unwrap_or(text);
    let last = no_generics.rsplit("::").next().unwrap_or(no_generics);
    let trimmed = last
        .trim()
        .trim_start_matches('&')
        .trim_start_matches("mut ")
        .trim();
    let trimmed = if trimmed.starts_with('\'') {
        trimmed.split_once(' ').map_or(trimmed, |(_, rest)| rest)
    } else {
        trimmed
    };
    let trimmed = trimmed.trim_start_matches("mut ").trim();
    if trimmed.is_empty() {
        text.trim().to_owned()
    } else {
        trimmed.to_owned()
    }
}

fn classify<'t>(node: Node<'t>, src: &[u8], ctx: Ctx) -> Vec<DefMatch<'t>> {
    let found = match node.kind() {
        "function_item" => named(node, src, ctx.function_kind()),
        "function_signature_item" => {
            named(node, src, ctx.function_kind()).map(DefMatch::symbol_only)
        }
        "struct_item" | "union_item" => named(node, src, ChunkKind::Struct),
        "enum_item" => named(node, src, ChunkKind::Enum),
        "trait_item" => named(node, src, ChunkKind::Trait)
            .map(|m| m.container(node.child_by_field_name("body"))),
        "mod_item" => node
            .child_by_field_name("body")
            .and_then(|body| named(node, src, ChunkKind::Module).map(|m| m.container(Some(body)))),
        "macro_definition" => named(node, src, ChunkKind::Macro),
        "const_item" | "static_item" => {
            named(node, src, ChunkKind::Constant).map(DefMatch::symbol_only)
        }
        "type_item" => named(node, src, ChunkKind::TypeAlias).map(DefMatch::symbol_only),
        "impl_item" => node.child_by_field_name("type").map(|ty| {
            let ty_text = node_text(ty, src);
            let name = match node.child_by_field_name("trait") {
                Some(tr) => format!("impl {} for {ty_text}", node_text(tr, src)),
                None => format!("impl {ty_text}"),
            };
            let mut m = DefMatch::new(ChunkKind::Impl, name, node)
                .container(node.child_by_field_name("body"));
            m.scope_name = Some(base_type_name(ty_text));
            m.in_symbols = false;
            m
        }),
        _ => None,
    };
    found.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{assert_covered, chunk, spans, symbols};
    use super::base_type_name;

    const SRC: &str = r#"//! Stock ledger.
use std::collections::HashMap;

pub const MAX_QTY: u32 = 10_000;

/// A reservation ledger.
#[derive(Debug, Default)]
pub struct Ledger {
    held: HashMap<String, u32>,
}

impl Ledger {
    /// Reserve stock.
    pub fn reserve(&mut self, sku: &str, qty: u32) -> bool {
        *self.held.entry(sku.into()).or_default() += qty;
        true
    }

    pub fn release(&mut self, sku: &str) {
        self.held.remove(sku);
    }
}

impl std::fmt::Display for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ledger")
    }
}

pub trait Store {
    fn get(&self, sku: &str) -> u32;
    fn put(&mut self, sku: &str) {}
}

pub enum Kind { A, B }

type Map = HashMap<String, u32>;

macro_rules! square {
    ($x:expr) => { $x * $x };
}

#[cfg(test)]
mod tests {
    #[test]
    fn works() {
        assert!(true);
    }
}
"#;

    #[test]
    fn rust_chunks_and_symbols() {
        let out = chunk("inventory/src/stock.rs", SRC);
        assert_eq!(
            spans(&out),
            vec![
                (1, 4, "module", None),
                (6, 10, "struct", Some("Ledger".into())),
                (12, 12, "impl", Some("impl Ledger".into())),
                (13, 17, "method", Some("Ledger::reserve".into())),
                (19, 21, "method", Some("Ledger::release".into())),
                (
                    24,
                    24,
                    "impl",
                    Some("impl std::fmt::Display for Ledger".into())
                ),
                (25, 27, "method", Some("Ledger::fmt".into())),
                (30, 31, "trait", Some("Store".into())),
                (32, 32, "method", Some("Store::put".into())),
                (35, 35, "enum", Some("Kind".into())),
                (37, 37, "module", None),
                (39, 41, "macro", Some("square".into())),
                (43, 44, "module", Some("tests".into())),
                (45, 48, "function", Some("tests::works".into())),
            ]
        );
        assert_eq!(
            symbols(&out),
            vec![
                ("MAX_QTY".into(), "constant", 4, 4),
                ("Ledger".into(), "struct", 8, 10),
                ("Ledger::reserve".into(), "method", 14, 17),
                ("Ledger::release".into(), "method", 19, 21),
                ("Ledger::fmt".into(), "method", 25, 27),
                ("Store".into(), "trait", 30, 33),
                ("Store::get".into(), "method", 31, 31),
                ("Store::put".into(), "method", 32, 32),
                ("Kind".into(), "enum", 35, 35),
                ("Map".into(), "type_alias", 37, 37),
                ("square".into(), "macro", 39, 41),
                ("tests".into(), "module", 44, 49),
                ("tests::works".into(), "function", 46, 48),
            ]
        );
        assert_covered(SRC, &out);
    }

    #[test]
    fn impl_type_names() {
        assert_eq!(base_type_name("Vec<T>"), "Vec");
        assert_eq!(base_type_name("crate::a::Bar"), "Bar");
        assert_eq!(base_type_name("&'a mut Foo"), "Foo");
        assert_eq!(base_type_name("Ledger"), "Ledger");
    }
}
