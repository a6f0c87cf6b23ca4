//! Tree-sitter driven extraction, shared by every parsed language: a
//! language gives a [`LangSpec`] (its grammar and how to recognise a
//! definition, [`DefMatch`]); [`parse_with`] walks the tree, keeps the
//! definitions with their attached comments, and cuts the file into
//! definition and gap segments plus the symbols.

use tree_sitter::{Node, Parser};

use super::segment::trim_gap;
use super::{ChunkKind, ChunkOptions, Lines, Segment, push_windowed};

/// The enclosing definition while walking a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ctx {
    /// Kind of the innermost container (class, impl, trait, …), `None` at top level.
    pub(crate) container: Option<ChunkKind>,
}

impl Ctx {
    /// `Method` inside a class-like container, `Function` elsewhere.
    pub(crate) fn function_kind(self) -> ChunkKind {
        match self.container {
            Some(ChunkKind::Module) | None => ChunkKind::Function,
            Some(_) => ChunkKind::Method,
        }
    }
}

/// A definition recognised by a language's classifier.
pub(crate) struct DefMatch<'t> {
    pub(crate) kind: ChunkKind,
    /// Unqualified name (for a Rust impl: `impl Display for Money`).
    pub(crate) name: String,
    /// Name members are qualified with; defaults to `name`.
    pub(crate) scope_name: Option<String>,
    /// The node whose span the chunk covers (with decorators / `export`).
    pub(crate) outer: Node<'t>,
    /// The definition node proper (symbol range).
    pub(crate) core: Node<'t>,
    /// For containers: the node holding the members.
    pub(crate) body: Option<Node<'t>>,
    /// `false` for symbol-only definitions (constants, aliases, signatures).
    pub(crate) chunked: bool,
    /// `false` for definitions that are not symbols (impl blocks).
    pub(crate) in_symbols: bool,
}

impl<'t> DefMatch<'t> {
    /// A chunked, listed definition whose chunk and symbol span `node`.
    pub(crate) fn new(kind: ChunkKind, name: String, node: Node<'t>) -> Self {
        Self {
            kind,
            name,
            scope_name: None,
            outer: node,
            core: node,
            body: None,
            chunked: true,
            in_symbols: true,
        }
    }

    pub(crate) fn container(mut self, body: Option<Node<'t>>) -> Self {
        self.body = body;
        self
    }

    pub(crate) fn symbol_only(mut self) -> Self {
        self.chunked = false;
        self
    }

    pub(crate) fn outer(mut self, outer: Node<'t>) -> Self {
        self.outer = outer;
        self
    }
}

/// What a parsed language contributes.
pub(crate) struct LangSpec {
    pub(crate) grammar: fn() -> tree_sitter::Language,
    /// Definitions starting at `node` (a child of the node being walked).
    /// Empty: not a definition; the walk descends into it.
    pub(crate) classify: for<'t> fn(Node<'t>, &[u8], Ctx) -> Vec<DefMatch<'t>>,
    /// Node kinds (comments, attributes) that belong to the definition
    /// right below them when no blank line separates them.
    pub(crate) attached: &'static [&'static str],
    /// Joins container and member names.
    pub(crate) separator: &'static str,
}

/// Text of a node, or "" if it is not valid UTF-8 (cannot happen for `&str`
/// input, but no panics).
pub(crate) fn node_text<'s>(node: Node<'_>, src: &'s [u8]) -> &'s str {
    node.utf8_text(src).unwrap_or("")
}

/// Text of the field `field` of `node`.
pub(crate) fn field_text(node: Node<'_>, field: &str, src: &[u8]) -> Option<String> {
    node.child_by_field_name(field)
        .map(|n| node_text(n, src).to_owned())
        .filter(|s| !s.is_empty())
}

/// First and last row of a node; a node ending at column 0 ends on the line before.
fn rows(node: Node<'_>) -> (u32, u32) {
    let start = node.start_position().row as u32;
    let end_pos = node.end_position();
    let mut end = end_pos.row as u32;
    if end_pos.column == 0 && end > start {
        end -= 1;
    }
    (start, end)
}

/// A definition found in the tree, with its members.
struct DefNode {
    kind: ChunkKind,
    qualified: String,
    /// Chunk span (with attached comments), 0-based rows.
    first: u32,
    last: u32,
    members: Vec<DefNode>,
}

/// A symbol found in the tree (0-based rows).
pub(crate) struct RawSymbol {
    pub(super) name: String,
    pub(super) kind: ChunkKind,
    pub(super) first: u32,
    pub(super) last: u32,
}

/// Deepest nesting of non-definition nodes the walk descends into.
const MAX_DEPTH: u32 = 128;

struct Walker<'a, 's> {
    spec: &'a LangSpec,
    src: &'s [u8],
    lines: &'a Lines<'s>,
    symbols: Vec<RawSymbol>,
}

impl Walker<'_, '_> {
    fn walk(
        &mut self,
        node: Node<'_>,
        scope: &[String],
        ctx: Ctx,
        depth: u32,
        out: &mut Vec<DefNode>,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        let mut cursor = node.walk();
        let children: Vec<Node<'_>> = node.named_children(&mut cursor).collect();
        for child in children {
            let defs = (self.spec.classify)(child, self.src, ctx);
            if defs.is_empty() {
                self.walk(child, scope, ctx, depth + 1, out);
                continue;
            }
            for def in defs {
                self.add_def(&def, scope, depth, out);
            }
        }
    }

    fn add_def(
        &mut self,
        def: &DefMatch<'_>,
        scope: &[String],
        depth: u32,
        out: &mut Vec<DefNode>,
    ) {
        let mut qualified = scope.join(self.spec.separator);
        if !qualified.is_empty() {
            qualified.push_str(self.spec.separator);
        }
        qualified.push_str(&def.name);
        if def.in_symbols {
            let (first, last) = rows(def.core);
            self.symbols.push(RawSymbol {
                name: qualified.clone(),
                kind: def.kind,
                first,
                last,
            });
        }
        let mut members = Vec::new();
        if let Some(body) = def.body {
            let mut inner = scope.to_vec();
            inner.push(def.scope_name.clone().unwrap_or_else(|| def.name.clone()));
            let inner_ctx = Ctx {
                container: Some(def.kind),
            };
            self.walk(body, &inner, inner_ctx, depth + 1, &mut members);
        }
        if def.chunked {
            let (mut first, last) = rows(def.outer);
            first = self.attached_start(def.outer, first);
            out.push(DefNode {
                kind: def.kind,
                qualified,
                first,
                last,
                members,
            });
        } else {
            // A symbol-only definition never hides chunked members.
            out.extend(members);
        }
    }

    /// Moves `first` up over comments / attributes directly above `node`.
    fn attached_start(&self, node: Node<'_>, mut first: u32) -> u32 {
        let mut prev = node.prev_named_sibling();
        while let Some(p) = prev {
            if !self.spec.attached.contains(&p.kind()) {
                break;
            }
            let (p_first, p_last) = rows(p);
            if p_last + 1 < first || p_last > first {
                break;
            }
            // The comment must start its line (not trail code).
            let line = self.lines.line(p_first);
            let col = p.start_position().column.min(line.len());
            if !line.is_char_boundary(col) || !line[..col].trim().is_empty() {
                break;
            }
            first = p_first;
            prev = p.prev_named_sibling();
        }
        first
    }
}

/// Parses `text` and returns its segments and symbols; `None` if the grammar
/// could not be loaded or parsing gave up.
pub(super) fn parse_with(
    spec: &LangSpec,
    text: &str,
    lines: &Lines<'_>,
    opts: &ChunkOptions,
) -> Option<(Vec<Segment>, Vec<RawSymbol>)> {
    let mut parser = Parser::new();
    parser.set_language(&(spec.grammar)()).ok()?;
    let tree = parser.parse(text, None)?;
    let mut walker = Walker {
        spec,
        src: text.as_bytes(),
        lines,
        symbols: Vec::new(),
    };
    let mut defs = Vec::new();
    walker.walk(tree.root_node(), &[], Ctx { container: None }, 0, &mut defs);
    let mut segments = Vec::new();
    segment_range(
        lines,
        opts,
        0,
        lines.count() - 1,
        &mut defs,
        ChunkKind::Module,
        None,
        &mut segments,
    );
    Some((segments, walker.symbols))
}

/// Cuts `first..=last` into definition chunks and gap chunks.
#[allow(clippy::too_many_arguments)]
fn segment_range(
    lines: &Lines<'_>,
    opts: &ChunkOptions,
    first: u32,
    last: u32,
    defs: &mut [DefNode],
    gap_kind: ChunkKind,
    gap_symbol: Option<&str>,
    out: &mut Vec<Segment>,
) {
    defs.sort_by_key(|d| (d.first, d.last));
    let top_level = gap_symbol.is_none();
    let gap_threshold = if top_level {
        opts.window_lines
    } else {
        opts.max_chunk_lines
    };
    let gap = |out: &mut Vec<Segment>, a: u32, b: u32| {
        if let Some((a, b)) = trim_gap(lines, a, b) {
            push_windowed(out, a, b, gap_threshold, opts, gap_kind, gap_symbol);
        }
    };
    let mut cursor = first;
    for def in &mut *defs {
        let def_first = def.first.max(first);
        let def_last = def.last.min(last);
        if def_first > def_last {
            continue;
        }
        if def_first > cursor {
            gap(out, cursor, def_first - 1);
        }
        if def.members.is_empty() {
            push_windowed(
                out,
                def_first,
                def_last,
                opts.max_chunk_lines,
                opts,
                def.kind,
                Some(&def.qualified),
            );
        } else {
            let qualified = def.qualified.clone();
            segment_range(
                lines,
                opts,
                def_first,
                def_last,
                &mut def.members,
                def.kind,
                Some(&qualified),
                out,
            );
        }
        cursor = cursor.max(def_last + 1);
    }
    if cursor <= last {
        gap(out, cursor, last);
    }
}
