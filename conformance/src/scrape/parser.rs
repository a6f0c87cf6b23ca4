//! The one-pass parser: lines to families and samples, labels and their escapes,
//! exemplars, `HELP` unescaping, and the interner that shares label names.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use super::{
    Exemplar, Exposition, Family, Format, Label, MetricType, ParseError, ParseErrorKind, Sample,
    Suffix, parse_float,
};

pub(super) struct Parser<'a> {
    text: &'a str,
    forced: Option<Format>,
    families: Vec<Family>,
    index: HashMap<String, usize>,
    /// The family the last line touched (samples usually follow it).
    current: Option<usize>,
    eof_seen: bool,
    saw_unit: bool,
    interner: Interner,
}

/// Shares label names and repeated values between samples: a label equal to
/// the previous sample's label at the same position, a known name, or a
/// known `le`/`quantile` bound reuses its `Arc` instead of allocating.
#[derive(Default)]
pub(super) struct Interner {
    previous: Vec<Label>,
    names: Vec<Arc<str>>,
    bounds: Vec<Arc<str>>,
}

impl Interner {
    const MAX_KNOWN: usize = 256;

    fn name(&mut self, position: usize, name: &str) -> Arc<str> {
        if let Some(l) = self.previous.get(position)
            && &*l.name == name
        {
            return Arc::clone(&l.name);
        }
        if let Some(n) = self.names.iter().find(|n| &***n == name) {
            return Arc::clone(n);
        }
        let n: Arc<str> = Arc::from(name);
        if self.names.len() < Self::MAX_KNOWN {
            self.names.push(Arc::clone(&n));
        }
        n
    }

    fn value(&mut self, position: usize, name: &str, value: Cow<'_, str>) -> Arc<str> {
        if let Some(l) = self.previous.get(position)
            && &*l.name == name
            && *l.value == *value
        {
            return Arc::clone(&l.value);
        }
        if name == "le" || name == "quantile" {
            if let Some(b) = self.bounds.iter().find(|b| ***b == *value) {
                return Arc::clone(b);
            }
            let b: Arc<str> = Arc::from(value);
            if self.bounds.len() < Self::MAX_KNOWN {
                self.bounds.push(Arc::clone(&b));
            }
            return b;
        }
        Arc::from(value)
    }

    fn remember(&mut self, labels: &[Label]) {
        self.previous.clear();
        self.previous.extend(labels.iter().cloned());
    }
}

impl<'a> Parser<'a> {
    pub(super) fn new(text: &'a str, forced: Option<Format>) -> Self {
        Self {
            text,
            forced,
            families: Vec::new(),
            index: HashMap::new(),
            current: None,
            eof_seen: false,
            saw_unit: false,
            interner: Interner::default(),
        }
    }

    pub(super) fn run(mut self) -> Result<Exposition, ParseError> {
        let mut line_no = 0;
        for raw in self.text.split('\n') {
            line_no += 1;
            let line = raw
                .strip_suffix('\r')
                .unwrap_or(raw)
                .trim_start_matches([' ', '\t']);
            if self.eof_seen {
                if line.trim().is_empty() {
                    continue;
                }
                return Err(error(line_no, line, ParseErrorKind::AfterEof));
            }
            if line.trim().is_empty() {
                continue;
            }
            let result = if line.as_bytes()[0] == b'#' {
                self.comment(line)
            } else {
                self.sample(line, line_no)
            };
            result.map_err(|kind| error(line_no, line, kind))?;
        }
        let format = match self.forced {
            Some(f) => f,
            None if self.eof_seen || self.saw_unit => Format::OpenMetrics,
            None => Format::Prometheus,
        };
        if format == Format::OpenMetrics && !self.eof_seen {
            return Err(ParseError {
                line: line_no,
                kind: ParseErrorKind::MissingEof,
                excerpt: String::new(),
            });
        }
        Ok(Exposition {
            format,
            families: self.families,
            index: self.index,
        })
    }

    fn comment(&mut self, line: &str) -> Result<(), ParseErrorKind> {
        let rest = line[1..].trim_start_matches([' ', '\t']);
        let (keyword, after) = split_word(rest);
        match keyword {
            "EOF" if after.trim().is_empty() => {
                self.eof_seen = true;
                Ok(())
            }
            "TYPE" => {
                let (name, kind) = split_word(after.trim_start());
                let kind = kind.trim();
                if !is_metric_name(name) || kind.is_empty() {
                    return Err(ParseErrorKind::MalformedComment("TYPE"));
                }
                let kind = MetricType::parse(kind)
                    .ok_or_else(|| ParseErrorKind::UnknownType(kind.to_owned()))?;
                if let Some(&i) = self.index.get(name) {
                    let fam = &mut self.families[i];
                    if fam.declared {
                        return Err(ParseErrorKind::DuplicateType(name.to_owned()));
                    }
                    if !fam.samples.is_empty() {
                        return Err(ParseErrorKind::TypeAfterSamples(name.to_owned()));
                    }
                    fam.kind = kind;
                    fam.declared = true;
                    self.current = Some(i);
                } else {
                    let i = self.new_family(name, kind, true);
                    self.current = Some(i);
                }
                Ok(())
            }
            "HELP" => {
                let (name, help) = split_word(after.trim_start());
                if !is_metric_name(name) {
                    return Err(ParseErrorKind::MalformedComment("HELP"));
                }
                let help = unescape_help(help.strip_prefix([' ', '\t']).unwrap_or(help));
                let i = self.family_index(name);
                let fam = &mut self.families[i];
                if fam.help.is_some() {
                    return Err(ParseErrorKind::DuplicateHelp(name.to_owned()));
                }
                fam.help = Some(help);
                self.current = Some(i);
                Ok(())
            }
            "UNIT" => {
                let (name, unit) = split_word(after.trim_start());
                if !is_metric_name(name) {
                    return Err(ParseErrorKind::MalformedComment("UNIT"));
                }
                let i = self.family_index(name);
                self.families[i].unit = Some(unit.trim().to_owned());
                self.saw_unit = true;
                self.current = Some(i);
                Ok(())
            }
            // Any other comment is ignored, as both formats allow.
            _ => Ok(()),
        }
    }

    fn new_family(&mut self, name: &str, kind: MetricType, declared: bool) -> usize {
        let i = self.families.len();
        self.families.push(Family {
            name: name.to_owned(),
            kind,
            help: None,
            unit: None,
            samples: Vec::new(),
            declared,
        });
        self.index.insert(name.to_owned(), i);
        i
    }

    /// The family named exactly `name`, made (untyped) if it does not exist.
    fn family_index(&mut self, name: &str) -> usize {
        match self.index.get(name) {
            Some(&i) => i,
            None => self.new_family(name, MetricType::Unknown, false),
        }
    }

    /// The family a sample called `name` belongs to, and its suffix.
    fn resolve(&mut self, name: &str) -> Result<(usize, Suffix), ParseErrorKind> {
        // Fast path: the family of the previous line.
        if let Some(i) = self.current {
            let fam = &self.families[i];
            if let Some(rest) = name.strip_prefix(fam.name.as_str())
                && let Some(suffix) = suffix_of(rest)
                && fam.kind.allows(suffix)
            {
                return Ok((i, suffix));
            }
        }
        if let Some(&i) = self.index.get(name) {
            let fam = &self.families[i];
            if fam.kind.allows(Suffix::Bare) {
                self.current = Some(i);
                return Ok((i, Suffix::Bare));
            }
        }
        for suffix in Suffix::STRIPPABLE {
            if let Some(base) = name.strip_suffix(suffix.as_str())
                && let Some(&i) = self.index.get(base)
                && self.families[i].kind.allows(suffix)
            {
                self.current = Some(i);
                return Ok((i, suffix));
            }
        }
        // A sample named exactly like a family that cannot hold bare samples
        // (`h` of histogram `h`) fits nowhere; any other unknown name is a
        // family of its own, untyped (`h_total` beside histogram `h`).
        if let Some(&i) = self.index.get(name) {
            let fam = &self.families[i];
            return Err(ParseErrorKind::SuffixMismatch {
                sample: name.to_owned(),
                family: fam.name.clone(),
                kind: fam.kind,
            });
        }
        let i = self.new_family(name, MetricType::Unknown, false);
        self.current = Some(i);
        Ok((i, Suffix::Bare))
    }

    fn sample(&mut self, line: &str, line_no: usize) -> Result<(), ParseErrorKind> {
        let bytes = line.as_bytes();
        let name_end = scan_metric_name(bytes, 0);
        if name_end == 0 {
            return Err(ParseErrorKind::ExpectedName(1));
        }
        let name = &line[..name_end];
        let mut pos = name_end;
        let mut labels = Vec::new();
        if bytes.get(pos) == Some(&b'{') {
            pos = parse_labels(line, pos + 1, &mut labels, &mut self.interner)?;
            self.interner.remember(&labels);
        }
        pos = skip_ws(bytes, pos);
        let (value_text, next) = next_token(line, pos);
        if value_text.is_empty() {
            return Err(ParseErrorKind::MissingValue);
        }
        let value = parse_float(value_text)
            .ok_or_else(|| ParseErrorKind::BadValue(value_text.to_owned()))?;
        pos = skip_ws(bytes, next);
        let mut timestamp = None;
        let mut exemplar = None;
        if pos < bytes.len() && bytes[pos] != b'#' {
            let (ts_text, next) = next_token(line, pos);
            timestamp = Some(
                parse_float(ts_text)
                    .filter(|t| t.is_finite())
                    .ok_or_else(|| ParseErrorKind::BadTimestamp(ts_text.to_owned()))?,
            );
            pos = skip_ws(bytes, next);
        }
        if pos < bytes.len() {
            if bytes[pos] == b'#' {
                exemplar = Some(parse_exemplar(line, pos + 1)?);
            } else {
                return Err(ParseErrorKind::TrailingText(shorten(&line[pos..])));
            }
        }
        let (fam_idx, suffix) = self.resolve(name)?;
        let fam = &mut self.families[fam_idx];
        if suffix == Suffix::Bucket
            && !labels
                .iter()
                .any(|l: &Label| &*l.name == "le" && parse_float(&l.value).is_some())
        {
            return Err(ParseErrorKind::BucketWithoutLe(fam.name.clone()));
        }
        fam.samples.push(Sample {
            suffix,
            labels,
            value,
            timestamp,
            exemplar,
            line: line_no,
        });
        Ok(())
    }
}

pub(super) fn error(line: usize, text: &str, kind: ParseErrorKind) -> ParseError {
    ParseError {
        line,
        kind,
        excerpt: shorten(text),
    }
}

pub(super) fn shorten(s: &str) -> String {
    const MAX: usize = 80;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

pub(super) fn suffix_of(rest: &str) -> Option<Suffix> {
    if rest.is_empty() {
        return Some(Suffix::Bare);
    }
    Suffix::STRIPPABLE.into_iter().find(|s| s.as_str() == rest)
}

/// Splits at the first space or tab.
pub(super) fn split_word(s: &str) -> (&str, &str) {
    match s.find([' ', '\t']) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}

pub(super) fn is_metric_name(s: &str) -> bool {
    !s.is_empty() && scan_metric_name(s.as_bytes(), 0) == s.len()
}

/// End of a metric name starting at `start` (`start` itself when none).
pub(super) fn scan_metric_name(b: &[u8], start: usize) -> usize {
    let mut i = start;
    while i < b.len() {
        let c = b[i];
        let ok =
            c.is_ascii_alphabetic() || c == b'_' || c == b':' || (i > start && c.is_ascii_digit());
        if !ok {
            break;
        }
        i += 1;
    }
    i
}

pub(super) fn scan_label_name(b: &[u8], start: usize) -> usize {
    let mut i = start;
    while i < b.len() {
        let c = b[i];
        let ok = c.is_ascii_alphabetic() || c == b'_' || (i > start && c.is_ascii_digit());
        if !ok {
            break;
        }
        i += 1;
    }
    i
}

pub(super) fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
        i += 1;
    }
    i
}

pub(super) fn next_token(line: &str, start: usize) -> (&str, usize) {
    let b = line.as_bytes();
    let mut i = start;
    while i < b.len() && b[i] != b' ' && b[i] != b'\t' {
        i += 1;
    }
    (&line[start..i], i)
}

/// Parses labels after `{`; returns the position after `}`.
pub(super) fn parse_labels(
    line: &str,
    mut pos: usize,
    out: &mut Vec<Label>,
    interner: &mut Interner,
) -> Result<usize, ParseErrorKind> {
    let b = line.as_bytes();
    loop {
        pos = skip_ws(b, pos);
        if b.get(pos) == Some(&b'}') {
            return Ok(pos + 1);
        }
        let end = scan_label_name(b, pos);
        if end == pos {
            return Err(ParseErrorKind::ExpectedLabelName(pos + 1));
        }
        let name = &line[pos..end];
        pos = skip_ws(b, end);
        if b.get(pos) != Some(&b'=') {
            return Err(ParseErrorKind::ExpectedEquals(pos + 1));
        }
        pos = skip_ws(b, pos + 1);
        if b.get(pos) != Some(&b'"') {
            return Err(ParseErrorKind::ExpectedQuote(pos + 1));
        }
        let (value, next) = parse_quoted(line, pos + 1)?;
        if out.iter().any(|l| &*l.name == name) {
            return Err(ParseErrorKind::DuplicateLabel(name.to_owned()));
        }
        let position = out.len();
        out.push(Label {
            name: interner.name(position, name),
            value: interner.value(position, name, value),
        });
        pos = skip_ws(b, next);
        match b.get(pos) {
            Some(b',') => pos += 1,
            Some(b'}') => return Ok(pos + 1),
            _ => return Err(ParseErrorKind::ExpectedCommaOrBrace(pos + 1)),
        }
    }
}

/// Parses a quoted label value starting after the opening quote; returns the
/// value and the position after the closing quote.
pub(super) fn parse_quoted(
    line: &str,
    start: usize,
) -> Result<(Cow<'_, str>, usize), ParseErrorKind> {
    let b = line.as_bytes();
    // Fast path: no escapes, borrow the text.
    let mut i = start;
    while i < b.len() {
        match b[i] {
            b'"' => return Ok((Cow::Borrowed(&line[start..i]), i + 1)),
            b'\\' => break,
            _ => i += 1,
        }
    }
    let mut out = String::with_capacity(i - start + 8);
    out.push_str(&line[start..i]);
    let mut run_start = i;
    while i < b.len() {
        match b[i] {
            b'"' => {
                out.push_str(&line[run_start..i]);
                return Ok((Cow::Owned(out), i + 1));
            }
            b'\\' => {
                out.push_str(&line[run_start..i]);
                match b.get(i + 1) {
                    Some(b'\\') => out.push('\\'),
                    Some(b'"') => out.push('"'),
                    Some(b'n') => out.push('\n'),
                    Some(_) => {
                        let c = line[i + 1..].chars().next().unwrap_or('?');
                        return Err(ParseErrorKind::BadEscape(c));
                    }
                    None => return Err(ParseErrorKind::UnterminatedLabelValue),
                }
                i += 2;
                run_start = i;
            }
            _ => i += 1,
        }
    }
    Err(ParseErrorKind::UnterminatedLabelValue)
}

/// Parses ` {labels} value [timestamp]` after an exemplar's `#`.
pub(super) fn parse_exemplar(line: &str, pos: usize) -> Result<Exemplar, ParseErrorKind> {
    let b = line.as_bytes();
    let mut pos = skip_ws(b, pos);
    if b.get(pos) != Some(&b'{') {
        return Err(ParseErrorKind::TrailingText(shorten(&line[pos..])));
    }
    let mut labels = Vec::new();
    pos = parse_labels(line, pos + 1, &mut labels, &mut Interner::default())?;
    pos = skip_ws(b, pos);
    let (value_text, next) = next_token(line, pos);
    let value =
        parse_float(value_text).ok_or_else(|| ParseErrorKind::BadValue(value_text.to_owned()))?;
    pos = skip_ws(b, next);
    let mut timestamp = None;
    if pos < b.len() {
        let (ts_text, next) = next_token(line, pos);
        timestamp = Some(
            parse_float(ts_text).ok_or_else(|| ParseErrorKind::BadTimestamp(ts_text.to_owned()))?,
        );
        pos = skip_ws(b, next);
        if pos < b.len() {
            return Err(ParseErrorKind::TrailingText(shorten(&line[pos..])));
        }
    }
    Ok(Exemplar {
        labels,
        value,
        timestamp,
    })
}

/// HELP text escapes: `\\` and `\n` (and `\"` in OpenMetrics).
pub(super) fn unescape_help(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('\\') | None => out.push('\\'),
                Some('"') => out.push('"'),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
