//! Java: classes, records, enums and interfaces (containers, nested ones
//! qualified `Outer.Inner`), methods and constructors; annotation types.
//! Javadoc and comments directly above a member start its chunk
//! (annotations are part of the declaration node already).

use tree_sitter::Node;

use super::{ChunkKind, Ctx, DefMatch, LangSpec, field_text};

pub(super) static SPEC: LangSpec = LangSpec {
    grammar,
    classify,
    attached: &["line_comment", "block_comment"],
    separator: ".",
};

fn grammar() -> tree_sitter::Language {
    tree_sitter_java::LANGUAGE.into()
}

fn classify<'t>(node: Node<'t>, src: &[u8], _ctx: Ctx) -> Vec<DefMatch<'t>> {
    let container = |kind: ChunkKind| {
        field_text(node, "name", src)
            .map(|name| DefMatch::new(kind, name, node).container(node.child_by_field_name("body")))
    };
    let found = match node.kind() {
        "class_declaration" | "record_declaration" => container(ChunkKind::Class),
        "enum_declaration" => container(ChunkKind::Enum),
        "interface_declaration" => container(ChunkKind::Interface),
        "annotation_type_declaration" => field_text(node, "name", src)
            .map(|name| DefMatch::new(ChunkKind::Interface, name, node)),
        "method_declaration" | "constructor_declaration" | "compact_constructor_declaration" => {
            field_text(node, "name", src).map(|name| DefMatch::new(ChunkKind::Method, name, node))
        }
        _ => None,
    };
    found.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{assert_covered, chunk, spans, symbols};

    const SRC: &str = r"package com.shopfront.notify;

import java.util.List;

/**
 * Sends emails.
 */
public class EmailNotifier {
    private final Mailer mailer;

    public EmailNotifier(Mailer mailer) {
        this.mailer = mailer;
    }

    /** Send the order confirmation. */
    @Override
    public void sendOrderConfirmation(Order order) {
        mailer.send(order.email());
    }

    enum Channel {
        EMAIL, SMS;

        boolean instant() { return this == SMS; }
    }
}

interface Mailer {
    void send(String to);
}
";

    #[test]
    fn java_chunks_and_symbols() {
        let out = chunk("notifications/EmailNotifier.java", SRC);
        assert_eq!(
            spans(&out),
            vec![
                (1, 3, "module", None),
                (5, 9, "class", Some("EmailNotifier".into())),
                (11, 13, "method", Some("EmailNotifier.EmailNotifier".into())),
                (
                    15,
                    19,
                    "method",
                    Some("EmailNotifier.sendOrderConfirmation".into())
                ),
                (21, 22, "enum", Some("EmailNotifier.Channel".into())),
                (
                    24,
                    24,
                    "method",
                    Some("EmailNotifier.Channel.instant".into())
                ),
                (28, 28, "interface", Some("Mailer".into())),
                (29, 29, "method", Some("Mailer.send".into())),
            ]
        );
        assert_eq!(
            symbols(&out),
            vec![
                ("EmailNotifier".into(), "class", 8, 26),
                ("EmailNotifier.EmailNotifier".into(), "method", 11, 13),
                (
                    "EmailNotifier.sendOrderConfirmation".into(),
                    "method",
                    16,
                    19
                ),
                ("EmailNotifier.Channel".into(), "enum", 21, 25),
                ("EmailNotifier.Channel.instant".into(), "method", 24, 24),
                ("Mailer".into(), "interface", 28, 30),
                ("Mailer.send".into(), "method", 29, 29),
            ]
        );
        assert_covered(SRC, &out);
    }
}
