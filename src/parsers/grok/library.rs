//! Grok pattern definitions: weir's shipped library, pattern files and the
//! table every compile looks names up in.
//!
//! The shipped library lives in `grammars/grok/*.grok` in the repository and
//! is embedded with `include_str!`, so a pipeline finds `%{COMBINEDAPACHELOG}`
//! whatever the working directory, and a release binary needs no data files.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path as FsPath, PathBuf};
use std::sync::OnceLock;

/// The shipped pattern files, in load order (later files may use names from
/// earlier ones; order only matters for which definition wins on a clash,
/// and names are unique across the library).
pub const LIBRARY_FILES: &[(&str, &str)] = &[
    (
        "common.grok",
        include_str!("../../../grammars/grok/common.grok"),
    ),
    (
        "syslog.grok",
        include_str!("../../../grammars/grok/syslog.grok"),
    ),
    (
        "http.grok",
        include_str!("../../../grammars/grok/http.grok"),
    ),
    ("aws.grok", include_str!("../../../grammars/grok/aws.grok")),
];

/// Where a definition was written, so a compile error can send the user to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// weir's embedded library: `grammars/grok/<file>`, 1-based line.
    Library { file: &'static str, line: usize },
    /// A file under one of the `patterns_dir` directories.
    File { path: PathBuf, line: usize },
    /// An entry of the filter's `pattern_definitions` map.
    Inline,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Library { file, line } => {
                write!(f, "weir's grok library, grammars/grok/{file}:{line}")
            }
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
            Origin::Inline => f.write_str("pattern_definitions"),
        }
    }
}

/// One named pattern: its regex text (which may reference other names) and
/// where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    pub text: String,
    pub origin: Origin,
}

/// Every pattern name a grok compile can reference. Later additions replace
/// earlier ones, so the order of loading is the order of precedence:
/// library, then `patterns_dir` files, then `pattern_definitions`.
#[derive(Debug, Clone, Default)]
pub struct Definitions {
    map: HashMap<String, Definition>,
}

impl Definitions {
    pub fn new() -> Self {
        Definitions::default()
    }

    /// The shipped library. Parsed once per process; the embedded files are
    /// checked by the unit tests, so a malformed line here is a weir bug and
    /// is skipped rather than failing a user's pipeline.
    pub fn library() -> &'static Definitions {
        static LIBRARY: OnceLock<Definitions> = OnceLock::new();
        LIBRARY.get_or_init(|| {
            let mut defs = Definitions::new();
            for (file, text) in LIBRARY_FILES {
                for (line, name, regex) in parse_definitions(text).flatten() {
                    defs.insert(name, regex, Origin::Library { file, line });
                }
            }
            defs
        })
    }

    pub fn insert(&mut self, name: impl Into<String>, text: impl Into<String>, origin: Origin) {
        self.map.insert(
            name.into(),
            Definition {
                text: text.into(),
                origin,
            },
        );
    }

    pub fn get(&self, name: &str) -> Option<&Definition> {
        self.map.get(name)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }

    /// Adds the definitions of one pattern file (`NAME regex` lines).
    pub fn load_file(&mut self, path: &FsPath) -> Result<(), String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read grok pattern file {}: {e}", path.display()))?;
        for entry in parse_definitions(&text) {
            let (line, name, regex) =
                entry.map_err(|(line, why)| format!("{}:{line}: {why}", path.display()))?;
            self.insert(
                name,
                regex,
                Origin::File {
                    path: path.to_owned(),
                    line,
                },
            );
        }
        Ok(())
    }

    /// Adds every pattern file of a `patterns_dir` entry: a directory's
    /// regular files whose names do not start with `.`, in name order (so the
    /// last definition of a name is predictable), or a single file.
    pub fn load_dir(&mut self, dir: &FsPath) -> Result<(), String> {
        let meta = std::fs::metadata(dir)
            .map_err(|e| format!("cannot read patterns_dir {}: {e}", dir.display()))?;
        if meta.is_file() {
            return self.load_file(dir);
        }
        let mut files = Vec::new();
        let entries = std::fs::read_dir(dir)
            .map_err(|e| format!("cannot read patterns_dir {}: {e}", dir.display()))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| format!("cannot read patterns_dir {}: {e}", dir.display()))?;
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            let is_file = std::fs::metadata(entry.path()).is_ok_and(|m| m.is_file());
            if is_file && !hidden {
                files.push(entry.path());
            }
        }
        files.sort();
        for file in files {
            self.load_file(&file)?;
        }
        Ok(())
    }
}

/// Whether `name` is a valid pattern name: ASCII letters, digits and `_`.
pub fn is_pattern_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A definition line: `(line number, name, regex)`, or `(line number, why)`.
type Entry<'a> = Result<(usize, &'a str, &'a str), (usize, String)>;

/// Reads pattern-file text: one `NAME regex` per line, the name separated
/// from the regex by spaces or tabs. Blank lines and lines starting with `#`
/// (after optional blanks) are skipped. Only the line terminator is removed
/// from the regex, as Logstash does: trailing spaces are part of it.
pub fn parse_definitions(text: &str) -> impl Iterator<Item = Entry<'_>> {
    text.lines().enumerate().filter_map(|(i, raw)| {
        let line = i + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let content = raw.trim_start();
        if content.is_empty() || content.starts_with('#') {
            return None;
        }
        let split = content
            .find([' ', '\t'])
            .unwrap_or(content.len());
        let (name, rest) = content.split_at(split);
        let regex = rest.trim_start_matches([' ', '\t']);
        if !is_pattern_name(name) {
            return Some(Err((
                line,
                format!(
                    "`{name}` is not a pattern name (letters, digits and `_`); expected `NAME regex`"
                ),
            )));
        }
        if regex.is_empty() {
            return Some(Err((
                line,
                format!("pattern `{name}` has no regex; expected `NAME regex`"),
            )));
        }
        Some(Ok((line, name, regex)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definition_lines() {
        let text =
            "# comment\n\n  # indented comment\nWORD \\b\\w+\\b\nTAB\tx+ \r\nbad-name x\nEMPTY\n";
        let entries: Vec<_> = parse_definitions(text).collect();
        assert_eq!(entries[0], Ok((4, "WORD", "\\b\\w+\\b")));
        assert_eq!(
            entries[1],
            Ok((5, "TAB", "x+ ")),
            "trailing spaces are kept"
        );
        let (line, why) = entries[2].clone().unwrap_err();
        assert_eq!(line, 6);
        assert!(why.contains("`bad-name` is not a pattern name"), "{why}");
        let (line, why) = entries[3].clone().unwrap_err();
        assert_eq!(line, 7);
        assert!(why.contains("has no regex"), "{why}");
    }

    #[test]
    fn library_files_are_well_formed_and_names_unique() {
        let mut seen = HashMap::new();
        for (file, text) in LIBRARY_FILES {
            for entry in parse_definitions(text) {
                let (line, name, _) = entry.unwrap_or_else(|(l, why)| panic!("{file}:{l}: {why}"));
                if let Some(prev) = seen.insert(name, (file, line)) {
                    panic!("{name} defined twice: {prev:?} and {file}:{line}");
                }
            }
        }
        assert_eq!(Definitions::library().len(), seen.len());
    }

    #[test]
    fn dirs_load_in_name_order_and_skip_hidden_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.grok"), "X b\n").unwrap();
        std::fs::write(dir.path().join("a.grok"), "X a\nY y\n").unwrap();
        std::fs::write(dir.path().join(".hidden"), "Z z\n").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let mut defs = Definitions::new();
        defs.load_dir(dir.path()).unwrap();
        assert_eq!(defs.get("X").unwrap().text, "b");
        assert!(defs.get("Y").is_some());
        assert!(defs.get("Z").is_none());
        match &defs.get("X").unwrap().origin {
            Origin::File { path, line } => {
                assert!(path.ends_with("b.grok"));
                assert_eq!(*line, 1);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn file_errors_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.grok");
        std::fs::write(&file, "OK x\n\n9?bad y\n").unwrap();
        let e = Definitions::new().load_dir(&file).unwrap_err();
        assert!(e.contains("p.grok:3: `9?bad` is not a pattern name"), "{e}");
        let e = Definitions::new()
            .load_dir(&dir.path().join("missing"))
            .unwrap_err();
        assert!(
            e.contains("cannot read patterns_dir") && e.contains("missing"),
            "{e}"
        );
    }
}
