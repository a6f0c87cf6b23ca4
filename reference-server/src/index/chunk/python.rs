//! Python: functions, methods (`Class.method`), classes (containers),
//! decorated definitions (the chunk starts at the first decorator).

use tree_sitter::Node;

use super::{ChunkKind, Ctx, DefMatch, LangSpec, field_text};

pub(super) static SPEC: LangSpec = LangSpec {
    grammar,
    classify,
    attached: &["comment"],
    separator: ".",
};

fn grammar() -> tree_sitter::Language {
    tree_sitter_python::LANGUAGE.into()
}

fn classify<'t>(node: Node<'t>, src: &[u8], ctx: Ctx) -> Vec<DefMatch<'t>> {
    match node.kind() {
        "function_definition" => field_text(node, "name", src)
            .map(|name| DefMatch::new(ctx.function_kind(), name, node))
            .into_iter()
            .collect(),
        "class_definition" => field_text(node, "name", src)
            .map(|name| {
                DefMatch::new(ChunkKind::Class, name, node)
                    .container(node.child_by_field_name("body"))
            })
            .into_iter()
            .collect(),
        "decorated_definition" => node
            .child_by_field_name("definition")
            .map(|def| {
                classify(def, src, ctx)
                    .into_iter()
                    .map(|m| m.outer(node))
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{assert_covered, chunk, spans, symbols};

    const SRC: &str = r#""""Payments module."""
import logging

from decimal import Decimal

log = logging.getLogger(__name__)


# Charges and refunds.
class PaymentService:
    """Moves money."""

    fee = Decimal("0.30")

    def __init__(self, gateway):
        self.gateway = gateway

    @staticmethod
    @cached
    def refund(payment_id, amount):
        """Refund a captured payment."""
        def inner():
            return amount
        return inner()

    class Receipt:
        def render(self):
            return "ok"


async def settle(batch):
    return [b for b in batch]


if __name__ == "__main__":
    settle([])
"#;

    #[test]
    fn python_chunks_and_symbols() {
        let out = chunk("pay/service.py", SRC);
        assert_eq!(
            spans(&out),
            vec![
                (1, 6, "module", None),
                (9, 13, "class", Some("PaymentService".into())),
                (15, 16, "method", Some("PaymentService.__init__".into())),
                (18, 24, "method", Some("PaymentService.refund".into())),
                (26, 26, "class", Some("PaymentService.Receipt".into())),
                (
                    27,
                    28,
                    "method",
                    Some("PaymentService.Receipt.render".into())
                ),
                (31, 32, "function", Some("settle".into())),
                (35, 36, "module", None),
            ]
        );
        assert_eq!(
            symbols(&out),
            vec![
                ("PaymentService".into(), "class", 10, 28),
                ("PaymentService.__init__".into(), "method", 15, 16),
                ("PaymentService.refund".into(), "method", 20, 24),
                ("PaymentService.Receipt".into(), "class", 26, 28),
                ("PaymentService.Receipt.render".into(), "method", 27, 28),
                ("settle".into(), "function", 31, 32),
            ]
        );
        assert_covered(SRC, &out);
        assert!(out.chunks[3].text.starts_with("    @staticmethod"));
        assert!(out.chunks.iter().all(|c| c.language.as_str() == "python"));
    }
}
