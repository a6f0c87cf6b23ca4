//! TypeScript and JavaScript (`.ts` with the TypeScript grammar; `.tsx`,
//! `.js`, `.jsx`, `.mjs`, `.cjs` with the TSX grammar, which accepts plain JS
//! and JSX): functions, generator functions, `const f = () => …` /
//! `function` expressions bound to a name, classes (containers) with their
//! methods and arrow-function fields, interfaces, enums, namespaces
//! (containers). Type aliases and overload signatures are symbols only.
//! `export` wrappers and decorators belong to the definition's chunk.

use tree_sitter::Node;

use super::{ChunkKind, Ctx, DefMatch, LangSpec, field_text};

pub(super) static TS_SPEC: LangSpec = LangSpec {
    grammar: typescript_grammar,
    classify,
    attached: &["comment", "decorator"],
    separator: ".",
};

pub(super) static TSX_SPEC: LangSpec = LangSpec {
    grammar: tsx_grammar,
    classify,
    attached: &["comment", "decorator"],
    separator: ".",
};

fn typescript_grammar() -> tree_sitter::Language {
    tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into()
}

fn tsx_grammar() -> tree_sitter::Language {
    tree_sitter_typescript::LANGUAGE_TSX.into()
}

const FUNCTION_VALUES: &[&str] = &[
    "arrow_function",
    "function_expression",
    "function",
    "generator_function",
];

fn named<'t>(node: Node<'t>, src: &[u8], kind: ChunkKind) -> Option<DefMatch<'t>> {
    field_text(node, "name", src).map(|name| DefMatch::new(kind, name, node))
}

fn in_class(ctx: Ctx) -> bool {
    matches!(ctx.container, Some(ChunkKind::Class))
}

fn classify<'t>(node: Node<'t>, src: &[u8], ctx: Ctx) -> Vec<DefMatch<'t>> {
    let single = match node.kind() {
        "function_declaration" | "generator_function_declaration" => {
            named(node, src, ctx.function_kind())
        }
        "function_signature" => named(node, src, ctx.function_kind()).map(DefMatch::symbol_only),
        "class_declaration" | "abstract_class_declaration" => named(node, src, ChunkKind::Class)
            .map(|m| m.container(node.child_by_field_name("body"))),
        "interface_declaration" => named(node, src, ChunkKind::Interface),
        "enum_declaration" => named(node, src, ChunkKind::Enum),
        "type_alias_declaration" => {
            named(node, src, ChunkKind::TypeAlias).map(DefMatch::symbol_only)
        }
        "internal_module" | "module" => node
            .child_by_field_name("body")
            .and_then(|body| named(node, src, ChunkKind::Module).map(|m| m.container(Some(body)))),
        "method_definition" if in_class(ctx) => named(node, src, ChunkKind::Method),
        "abstract_method_signature" if in_class(ctx) => {
            named(node, src, ChunkKind::Method).map(DefMatch::symbol_only)
        }
        "public_field_definition" if in_class(ctx) => node
            .child_by_field_name("value")
            .filter(|v| FUNCTION_VALUES.contains(&v.kind()))
            .and_then(|_| named(node, src, ChunkKind::Method)),
        "lexical_declaration" | "variable_declaration" => {
            return bound_functions(node, src, ctx);
        }
        "export_statement" => {
            return node
                .child_by_field_name("declaration")
                .map(|decl| {
                    classify(decl, src, ctx)
                        .into_iter()
                        .map(|m| m.outer(node))
                        .collect()
                })
                .unwrap_or_default();
        }
        _ => None,
    };
    single.into_iter().collect()
}

/// `const f = () => …`, `let g = function () {…}`: one function per
/// declarator whose value is a function; the chunk covers the declaration.
fn bound_functions<'t>(node: Node<'t>, src: &[u8], ctx: Ctx) -> Vec<DefMatch<'t>> {
    let mut cursor = node.walk();
    node.named_children(&mut cursor)
        .filter(|d| d.kind() == "variable_declarator")
        .filter(|d| {
            d.child_by_field_name("value")
                .is_some_and(|v| FUNCTION_VALUES.contains(&v.kind()))
        })
        .filter_map(|d| {
            let name = field_text(d, "name", src)?;
            Some(DefMatch::new(ctx.function_kind(), name, d).outer(node))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{assert_covered, chunk, spans, symbols};

    const SRC: &str = r"import { Money } from './money';

export type CartId = string;

/** A shopping cart. */
export class ShoppingCart {
  private items: Item[] = [];

  constructor(private readonly id: CartId) {}

  /** Add an item. */
  addItem(item: Item): void {
    this.items.push(item);
  }

  total = (): Money => {
    return sum(this.items);
  };
}

export interface Item {
  sku: string;
  qty: number;
}

export const applyCoupon = (code: string): number => {
  return code.length;
};

function helper(x: number) {
  return x * 2;
}

enum Color { Red, Green }

namespace Util {
  export function clamp(v: number): number {
    return v;
  }
}

console.log(helper(2));
";

    #[test]
    fn typescript_chunks_and_symbols() {
        let out = chunk("web/src/cart/cart.ts", SRC);
        assert_eq!(
            spans(&out),
            vec![
                (1, 3, "module", None),
                (5, 7, "class", Some("ShoppingCart".into())),
                (9, 9, "method", Some("ShoppingCart.constructor".into())),
                (11, 14, "method", Some("ShoppingCart.addItem".into())),
                (16, 18, "method", Some("ShoppingCart.total".into())),
                (21, 24, "interface", Some("Item".into())),
                (26, 28, "function", Some("applyCoupon".into())),
                (30, 32, "function", Some("helper".into())),
                (34, 34, "enum", Some("Color".into())),
                (36, 36, "module", Some("Util".into())),
                (37, 39, "function", Some("Util.clamp".into())),
                (42, 42, "module", None),
            ]
        );
        assert_eq!(
            symbols(&out),
            vec![
                ("CartId".into(), "type_alias", 3, 3),
                ("ShoppingCart".into(), "class", 6, 19),
                ("ShoppingCart.constructor".into(), "method", 9, 9),
                ("ShoppingCart.addItem".into(), "method", 12, 14),
                ("ShoppingCart.total".into(), "method", 16, 18),
                ("Item".into(), "interface", 21, 24),
                ("applyCoupon".into(), "function", 26, 28),
                ("helper".into(), "function", 30, 32),
                ("Color".into(), "enum", 34, 34),
                ("Util".into(), "module", 36, 40),
                ("Util.clamp".into(), "function", 37, 39),
            ]
        );
        assert_covered(SRC, &out);
    }

    #[test]
    fn javascript_and_jsx() {
        let src = "const React = require('react');\n\nfunction CheckoutButton({ onPay }) {\n  return <button onClick={onPay}>Pay</button>;\n}\n\nmodule.exports = { CheckoutButton };\n\nexport default class Tracker {\n  track(event) {\n    return event;\n  }\n}\n";
        let out = chunk("web/src/legacy/button.jsx", src);
        assert_eq!(
            spans(&out),
            vec![
                (1, 1, "module", None),
                (3, 5, "function", Some("CheckoutButton".into())),
                (7, 7, "module", None),
                (9, 9, "class", Some("Tracker".into())),
                (10, 12, "method", Some("Tracker.track".into())),
            ]
        );
        assert!(
            out.chunks
                .iter()
                .all(|c| c.language.as_str() == "javascript")
        );
        assert_covered(src, &out);
    }
}
