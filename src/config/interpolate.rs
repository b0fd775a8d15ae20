//! `${VAR}` and `${VAR:-default}` in config values.
//!
//! Interpolation runs on each scalar after the YAML is read, never on the raw
//! text: a variable's value can't change the document's structure (no YAML
//! injection through an environment variable), and a missing variable is
//! reported at the exact line and column where it is used. `$${` writes a
//! literal `${`. A `$` not followed by `{` is left alone, so CloudWatch
//! selectors like `$.status` need no escaping.

/// Expands the variables in `text` using `lookup`; the error names the first
/// missing variable (or the syntax problem).
pub fn interpolate(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    if !text.contains("${") {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(escaped) = after.strip_prefix("${") {
            out.push_str("${");
            rest = escaped;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| format!("`${{` is never closed in `{text}`"))?;
            let expr = &body[..end];
            let (name, default) = match expr.find(":-") {
                Some(d) => (&expr[..d], Some(&expr[d + 2..])),
                None => (expr, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "`${{{expr}}}` is not a variable reference: names are letters, digits and `_`"
                ));
            }
            match (lookup(name), default) {
                // As in shells, `:-` also replaces a variable that is set but empty.
                (Some(v), Some(d)) if v.is_empty() => out.push_str(d),
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => {
                    return Err(format!(
                        "environment variable `{name}` is not set (write `${{{name}:-default}}` to make it optional)"
                    ))
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("es".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_and_defaults() {
        assert_eq!(
            interpolate("http://${HOST}:9200", &env).unwrap(),
            "http://es:9200"
        );
        assert_eq!(interpolate("${NOPE:-x}", &env).unwrap(), "x");
        assert_eq!(interpolate("${EMPTY:-d}", &env).unwrap(), "d");
        assert_eq!(interpolate("${NOPE:-}", &env).unwrap(), "");
        assert_eq!(interpolate("a$${HOST}b", &env).unwrap(), "a${HOST}b");
        assert_eq!(
            interpolate("{ $.status = 5 }", &env).unwrap(),
            "{ $.status = 5 }"
        );
        assert_eq!(interpolate("cost $5", &env).unwrap(), "cost $5");
    }

    #[test]
    fn errors() {
        let e = interpolate("${MISSING}", &env).unwrap_err();
        assert!(e.contains("`MISSING` is not set"), "{e}");
        assert!(interpolate("${HOST", &env)
            .unwrap_err()
            .contains("never closed"));
        assert!(interpolate("${a b}", &env).is_err());
    }
}
