//! `format: grok` — Logstash-compatible grok patterns on the `regex` crate.
//!
//! ```yaml
//! filters:
//!   - parse:
//!       format: grok
//!       patterns: ['%{COMBINEDAPACHELOG}', '%{SYSLOGLINE}']   # tried in order
//!       pattern_definitions: { QUEUE_ID: '[0-9A-F]{10,11}' }   # optional
//!       patterns_dir: [/etc/weir/patterns]                     # optional
//!       library: true                                          # default
//! ```
//!
//! Grok is regex with named, reusable pieces: `%{NAME}` stands for the
//! definition of `NAME`, `%{NAME:field}` also captures what it matched into
//! `field` (dotted or `[bracket][form]`), and `%{NAME:field:int}` /
//! `%{NAME:field:float}` convert the capture. `(?<field>regex)` captures too.
//! The first pattern that matches a line wins; a line no pattern matches is a
//! parse failure, handled by the filter's `on_error`.
//!
//! Names come from, in increasing precedence: weir's library (the
//! `grammars/grok/*.grok` files, embedded in the binary; `library: false`
//! leaves it out), the files in `patterns_dir` (`NAME regex` per line), and
//! `pattern_definitions`.
//!
//! Everything is compiled when the pipeline is loaded, and every mistake is a
//! configuration error at the pattern or definition that holds it: unknown
//! names (with the closest known name), recursive definitions (with the
//! chain), and regex syntax the `regex` crate rejects. That crate has no
//! look-around or backreferences — the price of matching in linear time,
//! whatever the input. Differences from Logstash worth knowing: `\d \w \s \b`
//! are ASCII (as in Logstash), `^`/`$` anchor at the whole message rather
//! than at each line of a multi-line message, and atomic groups `(?>…)` are
//! read as plain groups.
//!
//! Performance: patterns are tried in order, each first checked by the
//! regex's lazy DFA (start patterns with `^` so a line of another format is
//! rejected in a few bytes). Captures of a match come from [`segment`], which
//! splits log-shaped patterns at forced field boundaries and checks each field
//! on its exact span, instead of the regex crate's backtracker that a
//! many-group pattern otherwise needs; captured strings are slices of the
//! line, and each pattern's document shape is precomputed.
//!
//! Module map: [`library`] loads definitions, [`compile`] expands a pattern
//! into a regex and a capture table, [`segment`] extracts captures fast,
//! [`matcher`] runs patterns and builds fields.

pub mod compile;
pub mod library;
pub mod matcher;
pub mod segment;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;

use bytes::Bytes;
use serde::Deserialize;

use self::compile::{build_regex, diagnose, expand, regex_error_text, CompileError};
use self::library::Definitions;
use self::matcher::{CompiledPattern, Matcher};
use super::{ParseError, Parsed, Parser};
use crate::config::{from_node, DeError, Node, NodeKind};
use crate::event::Event;

/// Options of `format: grok`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrokOptions {
    /// Grok patterns, tried in order; the first that matches wins. A single
    /// string is accepted for one pattern.
    #[serde(deserialize_with = "one_or_many")]
    pub patterns: Vec<String>,
    /// Extra definitions, `NAME: regex`; they override same-named ones from
    /// the library and `patterns_dir`.
    #[serde(default)]
    pub pattern_definitions: BTreeMap<String, String>,
    /// Directories (or single files) of pattern files, `NAME regex` per line,
    /// loaded in order; every non-hidden file of a directory is read, in name
    /// order. Relative paths are relative to the working directory.
    #[serde(default, deserialize_with = "one_or_many_paths")]
    pub patterns_dir: Vec<PathBuf>,
    /// Whether weir's shipped pattern library is available.
    #[serde(default = "default_true")]
    pub library: bool,
    /// Whether a capture that matched the empty string becomes an empty
    /// field (Logstash's `keep_empty_captures`); by default it is left out.
    #[serde(default)]
    pub keep_empty_captures: bool,
}

fn default_true() -> bool {
    true
}

/// A string or a list of strings.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string or a list of strings")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Vec<String>, E> {
            Ok(vec![v.to_owned()])
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Vec<String>, A::Error> {
            let mut out = Vec::new();
            while let Some(s) = seq.next_element::<String>()? {
                out.push(s);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

fn one_or_many_paths<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<PathBuf>, D::Error> {
    one_or_many(d).map(|v| v.into_iter().map(PathBuf::from).collect())
}

/// Where in the options a build error belongs.
#[derive(Debug, Clone, PartialEq)]
pub enum ErrorAt {
    /// The `patterns` entry with this index.
    Pattern(usize),
    /// The `pattern_definitions` entry with this name.
    Definition(String),
    /// The value of this option.
    Option(&'static str),
}

/// Why a grok parser could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct GrokError {
    pub message: String,
    pub at: ErrorAt,
}

impl GrokError {
    /// The error as a config error located in the filter's `options` node.
    pub fn into_de_error(self, options: &Node) -> DeError {
        let loc = match &self.at {
            ErrorAt::Pattern(i) => options.get("patterns").map(|n| match &n.kind {
                NodeKind::Seq(items) => items.get(*i).map_or(n.loc, |item| item.loc),
                _ => n.loc,
            }),
            ErrorAt::Definition(name) => options
                .get("pattern_definitions")
                .and_then(Node::as_map)
                .and_then(|entries| entries.iter().find(|(k, _)| k.as_str() == Some(name)))
                .map(|(_, v)| v.loc),
            ErrorAt::Option(key) => options.get(key).map(|n| n.loc),
        };
        DeError {
            message: self.message,
            loc: Some(loc.unwrap_or(options.loc)),
        }
    }
}

/// Parses messages with grok patterns.
#[derive(Debug)]
pub struct GrokParser {
    matcher: Matcher,
}

impl GrokParser {
    /// Builds the parser from the `parse` filter's options node; errors carry
    /// the position of the pattern or definition at fault.
    pub fn from_node(options: &Node) -> Result<Self, DeError> {
        let opts: GrokOptions = from_node(options)?;
        GrokParser::new(&opts).map_err(|e| e.into_de_error(options))
    }

    /// Builds the parser: loads the definitions and compiles every pattern.
    pub fn new(options: &GrokOptions) -> Result<Self, GrokError> {
        if options.patterns.is_empty() {
            return Err(GrokError {
                message: "`patterns` is empty: grok needs at least one pattern".to_owned(),
                at: ErrorAt::Option("patterns"),
            });
        }
        let mut defs = if options.library {
            Definitions::library().clone()
        } else {
            Definitions::new()
        };
        for dir in &options.patterns_dir {
            defs.load_dir(dir).map_err(|message| GrokError {
                message,
                at: ErrorAt::Option("patterns_dir"),
            })?;
        }
        for (name, text) in &options.pattern_definitions {
            if !library::is_pattern_name(name) {
                return Err(GrokError {
                    message: format!(
                        "`{name}` is not a valid grok pattern name: use letters, digits and `_`"
                    ),
                    at: ErrorAt::Definition(name.clone()),
                });
            }
            defs.insert(name.as_str(), text.as_str(), library::Origin::Inline);
        }

        let mut compiled = Vec::with_capacity(options.patterns.len());
        for (index, pattern) in options.patterns.iter().enumerate() {
            compiled.push(compile_one(index, pattern, &defs)?);
        }
        Ok(GrokParser {
            matcher: Matcher::new(compiled, options.keep_empty_captures),
        })
    }

    /// A parser for `patterns` with the shipped library and no other options.
    pub fn with_patterns<S: AsRef<str>>(patterns: &[S]) -> Result<Self, GrokError> {
        GrokParser::new(&GrokOptions {
            patterns: patterns.iter().map(|p| p.as_ref().to_owned()).collect(),
            pattern_definitions: BTreeMap::new(),
            patterns_dir: Vec::new(),
            library: true,
            keep_empty_captures: false,
        })
    }

    /// The index of the first pattern matching `input` and the fields it
    /// captured, or `None`.
    pub fn match_fields(&self, input: &Bytes) -> Option<(usize, crate::event::Fields)> {
        self.matcher.find(input)
    }

    /// The expanded regex of each pattern (for `weir parse --explain` and
    /// debugging).
    pub fn regexes(&self) -> impl Iterator<Item = &str> {
        self.matcher.patterns().iter().map(|p| p.regex().as_str())
    }
}

/// Expands and compiles pattern `index`, turning failures into errors that
/// say which pattern or definition is wrong.
fn compile_one(
    index: usize,
    pattern: &str,
    defs: &Definitions,
) -> Result<CompiledPattern, GrokError> {
    let located = |e: CompileError| {
        let at = match &e.site {
            Some(site) if site.inline => ErrorAt::Definition(site.name.clone()),
            _ => ErrorAt::Pattern(index),
        };
        GrokError {
            message: format!("in grok pattern `{}`: {e}", shorten(pattern)),
            at,
        }
    };
    let expansion = expand(pattern, defs).map_err(located)?;
    let regex = match build_regex(&expansion.regex) {
        Ok(r) => r,
        Err(e) => {
            return Err(located(diagnose(pattern, defs).unwrap_or_else(|| {
                CompileError {
                    message: format!("invalid regex: {}", regex_error_text(&e)),
                    site: None,
                }
            })))
        }
    };
    Ok(CompiledPattern::new(pattern.to_owned(), &expansion, regex))
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

impl Parser for GrokParser {
    fn parse(
        &self,
        input: &Bytes,
        _event: &Event,
        out: &mut Vec<Parsed>,
    ) -> Result<(), ParseError> {
        match self.matcher.find(input) {
            Some((_, fields)) => {
                out.push(Parsed::fields(fields));
                Ok(())
            }
            None => {
                let n = self.matcher.patterns().len();
                Err(ParseError::new(format!(
                    "no pattern matched (tried {n} pattern{})",
                    if n == 1 { "" } else { "s" }
                )))
            }
        }
    }
}
