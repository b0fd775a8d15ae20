//! [`Expr`]: the `&&` / `||` / parentheses layer shared by JSON patterns and
//! the conditions of a space-delimited field.
//!
//! Both forms combine their own kind of test with the same logic, so the
//! grammar (precedence `()` > `&&` > `||`, as CloudWatch documents it) is
//! written once, generic over the test type.

use super::cursor::Cursor;
use super::error::PatternError;

/// Nesting deeper than this is rejected: it bounds the recursion of both the
/// parser and the evaluator, whatever text a user (or a fuzzer) writes.
pub(crate) const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone)]
pub(crate) enum Expr<A> {
    Test(A),
    /// Every operand holds (`&&`).
    All(Vec<Expr<A>>),
    /// At least one operand holds (`||`).
    Any(Vec<Expr<A>>),
}

impl<A> Expr<A> {
    /// Evaluates with `test` deciding each leaf; short-circuits like `&&`/`||`.
    pub fn eval<F: FnMut(&A) -> bool>(&self, test: &mut F) -> bool {
        match self {
            Expr::Test(a) => test(a),
            Expr::All(items) => items.iter().all(|e| e.eval(test)),
            Expr::Any(items) => items.iter().any(|e| e.eval(test)),
        }
    }

    /// Calls `f` on every leaf, left to right.
    pub fn for_each_test<'s>(&'s self, f: &mut impl FnMut(&'s A)) {
        match self {
            Expr::Test(a) => f(a),
            Expr::All(items) | Expr::Any(items) => {
                for e in items {
                    e.for_each_test(f);
                }
            }
        }
    }
}

/// Parses `test (('&&' | '||') test)*` with parentheses; `test` parses one
/// leaf. Stops (without error) at the first text that continues neither the
/// expression nor a leaf: the caller decides whether that is its closing
/// delimiter or an error.
pub(crate) fn parse<A>(
    c: &mut Cursor<'_>,
    test: &mut impl FnMut(&mut Cursor<'_>) -> Result<A, PatternError>,
) -> Result<Expr<A>, PatternError> {
    parse_or(c, test, 0)
}

fn parse_or<A>(
    c: &mut Cursor<'_>,
    test: &mut impl FnMut(&mut Cursor<'_>) -> Result<A, PatternError>,
    depth: usize,
) -> Result<Expr<A>, PatternError> {
    let mut items = vec![parse_and(c, test, depth)?];
    loop {
        c.skip_ws();
        if !c.eat("||") {
            break;
        }
        items.push(parse_and(c, test, depth)?);
    }
    Ok(collapse(items, Expr::Any))
}

fn parse_and<A>(
    c: &mut Cursor<'_>,
    test: &mut impl FnMut(&mut Cursor<'_>) -> Result<A, PatternError>,
    depth: usize,
) -> Result<Expr<A>, PatternError> {
    let mut items = vec![parse_operand(c, test, depth)?];
    loop {
        c.skip_ws();
        if !c.eat("&&") {
            break;
        }
        items.push(parse_operand(c, test, depth)?);
    }
    Ok(collapse(items, Expr::All))
}

fn parse_operand<A>(
    c: &mut Cursor<'_>,
    test: &mut impl FnMut(&mut Cursor<'_>) -> Result<A, PatternError>,
    depth: usize,
) -> Result<Expr<A>, PatternError> {
    c.skip_ws();
    if c.peek() != Some('(') {
        return test(c).map(Expr::Test);
    }
    let open = c.pos();
    if depth >= MAX_DEPTH {
        return Err(c.error(format!("at most {MAX_DEPTH} levels of nested parentheses")));
    }
    c.bump();
    let inner = parse_or(c, test, depth + 1)?;
    c.skip_ws();
    if c.eat(")") {
        Ok(inner)
    } else {
        Err(c.error(format!(
            "`&&`, `||` or `)` to close the parenthesis opened at column {}",
            c.column(open)
        )))
    }
}

fn collapse<A>(mut items: Vec<Expr<A>>, wrap: fn(Vec<Expr<A>>) -> Expr<A>) -> Expr<A> {
    match items.pop() {
        Some(only) if items.is_empty() => only,
        Some(last) => {
            items.push(last);
            wrap(items)
        }
        None => wrap(items),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Leaves are single letters; `t` is true, `f` false.
    fn eval(text: &str) -> Result<bool, PatternError> {
        let mut c = Cursor::new(text);
        let e = parse(&mut c, &mut |c: &mut Cursor<'_>| {
            c.skip_ws();
            match c.bump() {
                Some('t') => Ok(true),
                Some('f') => Ok(false),
                _ => Err(c.error("`t` or `f`")),
            }
        })?;
        c.skip_ws();
        if !c.at_end() {
            return Err(c.error("end"));
        }
        Ok(e.eval(&mut |b| *b))
    }

    #[test]
    fn and_binds_tighter_than_or() {
        assert!(eval("t || f && f").unwrap());
        assert!(!eval("(t || f) && f").unwrap());
        assert!(eval("f && f || t").unwrap());
        assert!(!eval("f && (f || t)").unwrap());
        assert!(eval("((t))").unwrap());
    }

    #[test]
    fn errors() {
        let e = eval("(t || f").unwrap_err();
        assert_eq!(e.column, 8);
        assert_eq!(
            e.expected,
            "`&&`, `||` or `)` to close the parenthesis opened at column 1"
        );
        let deep = format!("{}t{}", "(".repeat(40), ")".repeat(40));
        assert!(eval(&deep)
            .unwrap_err()
            .expected
            .contains("nested parentheses"));
        assert_eq!(eval("t && ").unwrap_err().column, 6);
    }
}
