//! Describing a JSON deserialization error for a client: the field it is
//! about and a message naming it (a leaf, shared by the HTTP bodies and
//! the MCP tool arguments).

/// The first `` `name` `` quoted in a serde message (the field it is about).
fn quoted_name(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_owned())
}

/// Describes a deserialization error as (field, message): the path of the
/// offending value when there is one (`k`, `filters[0].lang`), else the
/// field a missing/unknown-field message names.
pub fn describe_json_error<E: std::fmt::Display>(
    e: &serde_path_to_error::Error<E>,
) -> (Option<String>, String) {
    let path = e.path().to_string();
    let inner = e.inner().to_string();
    if path != "." && !path.is_empty() {
        let msg = format!("field `{path}`: {inner}");
        (Some(path), msg)
    } else {
        (quoted_name(&inner), inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        query: String,
        #[serde(default)]
        k: usize,
    }

    fn describe(json: &str) -> (Option<String>, String) {
        let mut de = serde_json::Deserializer::from_str(json);
        let e = serde_path_to_error::deserialize::<_, Body>(&mut de).unwrap_err();
        describe_json_error(&e)
    }

    #[test]
    fn names_the_offending_missing_or_unknown_field() {
        let (field, msg) = describe(r#"{"query": "x", "k": "ten"}"#);
        assert_eq!(field.as_deref(), Some("k"));
        assert!(msg.starts_with("field `k`: "), "{msg}");
        assert_eq!(describe(r#"{"k": 1}"#).0.as_deref(), Some("query"));
        assert_eq!(
            describe(r#"{"query": "x", "top": 1}"#).0.as_deref(),
            Some("top")
        );
        assert_eq!(quoted_name("no quotes here"), None);
    }
}
