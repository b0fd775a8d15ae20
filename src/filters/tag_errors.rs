//! `tag_errors`: names the errors in a log stream with codes from a catalog.
//!
//! A catalog is an ordered list of rules, each a filter pattern (the one
//! pattern language, so the same CloudWatch syntax as `when:` and metric
//! filters) with a `code`, a `severity`, an optional `type` and
//! `description`. The **first** rule that matches an event sets
//!
//! | field | value |
//! |---|---|
//! | `error.code` | the rule's `code` |
//! | `error.severity` | its `severity`: `emergency`, `alert`, `critical`, `error`, `warning`, `notice`, `info`, `debug` (syslog's names) |
//! | `error.type` | its `type`, or the code when it has none |
//! | `error.message` | its `description`, only when the event has no `error.message` yet (a parser's reason is kept) |
//!
//! and adds one to `weir_error_codes_total{code,severity}`. Every rule's series
//! exists at 0 from the start, so `increase()` and alerts work before the first
//! error. Events no rule matches pass untouched; no event is ever dropped.
//!
//! Rules can be grouped behind a shared pattern, tested once for all of them
//! (a group whose `when` matches but none of whose rules do falls through to
//! the entries after it):
//!
//! ```yaml
//! rules:
//!   - group: s3_access
//!     when: '{ $.aws.s3access.error_code = * }'
//!     rules:
//!       - { code: S3_ACCESS_DENIED, severity: warning, pattern: '{ $.aws.s3access.error_code = "AccessDenied" }' }
//!   - { code: OOM_KILL, severity: critical, pattern: '"Out of memory"' }
//! ```
//!
//! Rules come from (options):
//! - nothing given: the catalog shipped with weir, `grammars/error-codes.yaml`,
//!   compiled into the binary — S3 access errors, VPC flow REJECTs, CloudTrail
//!   authorisation failures, HTTP 5xx/401/403/429, SSH/PAM/sudo auth failures,
//!   OOM kills, timeouts, syslog severities 0–3;
//! - `catalog: PATH`: a catalog file. A relative path is read from the working
//!   directory, like `data_dir` and the file output's `path` (so
//!   `grammars/error-codes.yaml` means the same from `weir run` as from the
//!   repository's tests); `catalog: builtin` names the shipped one;
//! - `rules: [...]`: rules inline, in the same form. With `catalog` too, the
//!   inline rules are tried first (local exceptions before the general
//!   catalog); without it they are the only rules.
//!
//! A catalog that does not load fails `weir validate`, naming the catalog file,
//! the rule (number and code), and the line and column — for a bad pattern
//! also the column inside the pattern.
//!
//! An event nothing has parsed whose line is a JSON object is parsed once for
//! all rules; putting `tag_errors` after `parse` saves even that.

use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;

use super::{BuildContext, Filter, FilterContext};
use crate::config::{from_node, yaml, DeError, Loc, Node, NodeKind};
use crate::event::{Event, Meta, Path, Value};
use crate::parsers::json::parse_value;
use crate::pattern::{Pattern, PatternKind};
use crate::telemetry::Registry;

/// The catalog shipped with weir.
pub const BUILTIN_CATALOG: &str = include_str!("../../grammars/error-codes.yaml");
/// How the shipped catalog is named in messages and by `catalog:`.
pub const BUILTIN_NAME: &str = "builtin";
/// Counter of tagged events per code.
pub const ERROR_CODES_METRIC: &str = "weir_error_codes_total";

/// Options of `tag_errors`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagErrorsConfig {
    /// A catalog file (relative to the working directory), or `builtin`.
    #[serde(default)]
    pub catalog: Option<String>,
    /// Inline rules; read separately so each error names its rule.
    #[serde(default)]
    pub rules: Option<serde::de::IgnoredAny>,
}

/// How bad a catalogued error is: syslog's severity names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Emergency,
    Alert,
    Critical,
    Error,
    Warning,
    Notice,
    Info,
    Debug,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Emergency => "emergency",
            Severity::Alert => "alert",
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
            Severity::Info => "info",
            Severity::Debug => "debug",
        }
    }
}

/// One rule as written in a catalog.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub code: String,
    pub severity: Severity,
    pub pattern: Pattern,
    #[serde(default, rename = "type")]
    pub error_type: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// A catalog entry as written: a rule, or a group of rules behind a shared
/// `when` pattern.
#[derive(Debug)]
pub enum CatalogEntry {
    Rule(RuleConfig),
    Group {
        name: String,
        when: Pattern,
        rules: Vec<RuleConfig>,
    },
}

impl CatalogEntry {
    /// The rules of the entry, in order.
    pub fn rules(&self) -> &[RuleConfig] {
        match self {
            CatalogEntry::Rule(r) => std::slice::from_ref(r),
            CatalogEntry::Group { rules, .. } => rules,
        }
    }
}

/// A `group:` entry; its `rules` are read separately, like the top level's.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupConfig {
    group: String,
    when: Pattern,
    #[allow(dead_code)]
    rules: serde::de::IgnoredAny,
}

/// A compiled rule: its fields as shared bytes (writing them into an event
/// copies nothing) and its counter handle.
#[derive(Debug)]
struct Rule {
    pattern: Pattern,
    code: Bytes,
    severity: Bytes,
    error_type: Bytes,
    description: Option<Bytes>,
    counter: metrics::Counter,
}

/// A compiled entry. A group's `when` is tested once for all its rules: the
/// shipped catalog's nine S3 rules cost one field lookup on an event that is
/// not an S3 access record.
#[derive(Debug)]
enum Entry {
    Rule(Rule),
    Group { when: Pattern, rules: Box<[Rule]> },
}

/// A rule that did not compile, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleError {
    pub loc: Option<Loc>,
    pub message: String,
}

/// Reads the entries of a catalog's `rules:` list or of an inline `rules:`
/// list. Every bad rule is reported, in order.
pub fn parse_rules(list: &Node) -> Result<Vec<CatalogEntry>, Vec<RuleError>> {
    parse_list(list, None)
}

fn parse_list(list: &Node, group: Option<&str>) -> Result<Vec<CatalogEntry>, Vec<RuleError>> {
    let NodeKind::Seq(items) = &list.kind else {
        return Err(vec![RuleError {
            loc: Some(list.loc),
            message: format!(
                "`rules` is a list of rules (`- code: …`); found {}",
                list.describe()
            ),
        }]);
    };
    let mut entries = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let label = match group {
            Some(g) => format!("group `{g}` rule #{}", i + 1),
            None => format!("rule #{}", i + 1),
        };
        if item.get("group").is_some() {
            if let Some(g) = group {
                errors.push(RuleError {
                    loc: Some(item.loc),
                    message: format!(
                        "{label}: groups do not nest (this one is inside group `{g}`)"
                    ),
                });
                continue;
            }
            match from_node::<GroupConfig>(item) {
                Ok(g) => {
                    let rules_node = item.get("rules").unwrap_or(item);
                    match parse_list(rules_node, Some(&g.group)) {
                        Ok(inner) if inner.is_empty() => errors.push(RuleError {
                            loc: Some(rules_node.loc),
                            message: format!("group `{}` has no rules", g.group),
                        }),
                        Ok(inner) => entries.push(CatalogEntry::Group {
                            name: g.group,
                            when: g.when,
                            rules: inner
                                .into_iter()
                                .filter_map(|e| match e {
                                    CatalogEntry::Rule(r) => Some(r),
                                    CatalogEntry::Group { .. } => None,
                                })
                                .collect(),
                        }),
                        Err(e) => errors.extend(e),
                    }
                }
                Err(e) => {
                    let named = item
                        .get("group")
                        .and_then(Node::as_str)
                        .map(|g| format!(" `{g}`"))
                        .unwrap_or_default();
                    errors.push(RuleError {
                        loc: e.loc.or(Some(item.loc)),
                        message: format!("group{named} (entry #{}): {}", i + 1, e.message),
                    });
                }
            }
            continue;
        }
        match from_node::<RuleConfig>(item) {
            Ok(rule) if rule.code.trim().is_empty() => errors.push(RuleError {
                loc: item.get("code").map(|n| n.loc),
                message: format!("{label}: `code` must not be empty"),
            }),
            Ok(rule) => entries.push(CatalogEntry::Rule(rule)),
            Err(e) => {
                let named = item
                    .get("code")
                    .and_then(Node::as_str)
                    .map(|c| format!(" (`{c}`)"))
                    .unwrap_or_default();
                errors.push(RuleError {
                    loc: e.loc.or(Some(item.loc)),
                    message: format!("{label}{named}: {}", e.message),
                });
            }
        }
    }
    if errors.is_empty() {
        Ok(entries)
    } else {
        Err(errors)
    }
}

/// Reads a catalog file's text; errors are `NAME:LINE:COLUMN: rule #N (`CODE`): …`.
pub fn parse_catalog(text: &str, name: &str) -> Result<Vec<CatalogEntry>, String> {
    let root =
        yaml::parse(text).map_err(|e| format!("{name}:{}: invalid YAML: {}", e.loc, e.message))?;
    let position =
        |loc: Option<Loc>| loc.map_or_else(|| name.to_owned(), |l| format!("{name}:{l}"));
    let Some(entries) = root.as_map() else {
        return Err(format!(
            "{}: an error catalog is a map with a `rules:` list; found {}",
            position(Some(root.loc)),
            root.describe()
        ));
    };
    if let Some((key, _)) = entries.iter().find(|(k, _)| k.as_str() != Some("rules")) {
        return Err(format!(
            "{}: unknown key `{}` in an error catalog; expected `rules`",
            position(Some(key.loc)),
            key.as_str().unwrap_or_default()
        ));
    }
    let Some(list) = root.get("rules") else {
        return Err(format!(
            "{}: the catalog has no `rules:` list",
            position(Some(root.loc))
        ));
    };
    parse_rules(list).map_err(|errors| {
        errors
            .into_iter()
            .map(|e| format!("{}: {}", position(e.loc), e.message))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// The compiled filter.
#[derive(Debug)]
pub struct TagErrors {
    entries: Box<[Entry]>,
    /// Whether any pattern is a JSON pattern: then an unparsed JSON line is
    /// parsed once for all of them (see [`TagErrors::tag`]).
    reads_fields: bool,
}

static ERROR_CODE: std::sync::LazyLock<Path> =
    std::sync::LazyLock::new(|| Path::parse_static("error.code"));
static ERROR_SEVERITY: std::sync::LazyLock<Path> =
    std::sync::LazyLock::new(|| Path::parse_static("error.severity"));
static ERROR_TYPE: std::sync::LazyLock<Path> =
    std::sync::LazyLock::new(|| Path::parse_static("error.type"));
static ERROR_MESSAGE: std::sync::LazyLock<Path> =
    std::sync::LazyLock::new(|| Path::parse_static("error.message"));

impl TagErrors {
    /// Reads the options, loads and compiles the rules, and registers one
    /// counter series per rule.
    pub fn build(
        options: &Node,
        _cx: &BuildContext,
        registry: &Registry,
    ) -> Result<TagErrors, DeError> {
        let config: TagErrorsConfig = from_node(options)?;
        let mut entries = Vec::new();
        if let Some(list) = options.get("rules") {
            match parse_rules(list) {
                Ok(r) => entries.extend(r),
                Err(mut errors) => {
                    let first = errors.remove(0);
                    let more = if errors.is_empty() {
                        String::new()
                    } else {
                        format!(" (and {} more bad rule(s))", errors.len())
                    };
                    return Err(DeError {
                        message: format!("{}{more}", first.message),
                        loc: first.loc.or(Some(list.loc)),
                    });
                }
            }
        }
        let catalog = match (&config.catalog, &config.rules) {
            (Some(path), _) => Some(path.as_str()),
            (None, None) => Some(BUILTIN_NAME),
            (None, Some(_)) => None,
        };
        if let Some(path) = catalog {
            let at = options.get("catalog").map_or(options.loc, |n| n.loc);
            entries.extend(load_catalog(path).map_err(|message| DeError {
                message,
                loc: Some(at),
            })?);
        }
        if entries.is_empty() {
            return Err(DeError {
                message: "`tag_errors` has no rules: give a `catalog` or `rules`".into(),
                loc: Some(options.loc),
            });
        }
        let help = "Events tagged with an error code by `tag_errors`, by code and severity.";
        let compile = |r: RuleConfig| {
            let severity = r.severity.as_str();
            Rule {
                counter: registry.counter(
                    ERROR_CODES_METRIC,
                    &[("code", &r.code), ("severity", severity)],
                    help,
                ),
                error_type: Bytes::from(r.error_type.unwrap_or_else(|| r.code.clone())),
                code: Bytes::from(r.code),
                severity: Bytes::from_static(severity.as_bytes()),
                description: r.description.map(Bytes::from),
                pattern: r.pattern,
            }
        };
        let mut reads_fields = false;
        let mut json = |p: &Pattern| reads_fields |= p.kind() == PatternKind::Json;
        let entries: Box<[Entry]> = entries
            .into_iter()
            .map(|e| match e {
                CatalogEntry::Rule(r) => {
                    json(&r.pattern);
                    Entry::Rule(compile(r))
                }
                CatalogEntry::Group { when, rules, .. } => {
                    json(&when);
                    rules.iter().for_each(|r| json(&r.pattern));
                    Entry::Group {
                        when,
                        rules: rules.into_iter().map(compile).collect(),
                    }
                }
            })
            .collect();
        Ok(TagErrors {
            entries,
            reads_fields,
        })
    }

    /// How many rules there are, groups' rules included.
    pub fn len(&self) -> usize {
        self.entries
            .iter()
            .map(|e| match e {
                Entry::Rule(_) => 1,
                Entry::Group { rules, .. } => rules.len(),
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first rule matching `event`, trying entries in order.
    fn first_match(&self, event: &Event) -> Option<&Rule> {
        self.entries.iter().find_map(|entry| match entry {
            Entry::Rule(r) => r.pattern.matches(event).then_some(r),
            Entry::Group { when, rules } => {
                if when.matches(event) {
                    rules.iter().find(|r| r.pattern.matches(event))
                } else {
                    None
                }
            }
        })
    }

    /// Tags `event` with the first matching rule; returns its code.
    ///
    /// An event nothing has parsed yet, whose line is a JSON object, is
    /// parsed once here and every rule looks at that: otherwise each JSON
    /// rule would parse the line again (some 25 parses per event with the
    /// shipped catalog). The only difference this makes is that `$.@timestamp`
    /// falls back to the event time, as it does after `parse`.
    pub fn tag(&self, event: &mut Event) -> Option<&[u8]> {
        let rule = match self.parsed_view(event) {
            Some(view) => self.first_match(&view),
            None => self.first_match(event),
        }?;
        event.insert(&ERROR_CODE, Value::Str(rule.code.clone()));
        event.insert(&ERROR_SEVERITY, Value::Str(rule.severity.clone()));
        event.insert(&ERROR_TYPE, Value::Str(rule.error_type.clone()));
        if let Some(d) = &rule.description {
            if event.fields.get_path(&ERROR_MESSAGE).is_none() {
                event.insert(&ERROR_MESSAGE, Value::Str(d.clone()));
            }
        }
        rule.counter.increment(1);
        Some(&rule.code)
    }

    /// The event with its line parsed into fields, when that is worth doing.
    fn parsed_view(&self, event: &Event) -> Option<Event> {
        if !self.reads_fields || !event.fields.is_empty() {
            return None;
        }
        let first = event.message.iter().find(|b| !b.is_ascii_whitespace())?;
        if *first != b'{' {
            return None;
        }
        match parse_value(&event.message) {
            Ok(Value::Object(fields)) => Some(Event {
                message: event.message.clone(),
                fields,
                timestamp: event.timestamp,
                meta: Meta {
                    message_consumed: true,
                    ..Meta::default()
                },
            }),
            _ => None,
        }
    }
}

/// The entries of catalog `path` (or the shipped one for `builtin`).
fn load_catalog(path: &str) -> Result<Vec<CatalogEntry>, String> {
    let (text, name): (std::borrow::Cow<'_, str>, Arc<str>) = if path == BUILTIN_NAME {
        (
            BUILTIN_CATALOG.into(),
            "grammars/error-codes.yaml (builtin)".into(),
        )
    } else {
        let text = std::fs::read_to_string(path).map_err(|e| {
            let cwd = std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|_| "?".into());
            format!("cannot read error catalog `{path}` (relative paths are read from the working directory, {cwd}): {e}")
        })?;
        (text.into(), path.into())
    };
    parse_catalog(&text, &name).map_err(|e| format!("error catalog {e}"))
}

impl Filter for TagErrors {
    fn process(&self, events: &mut Vec<Event>, _cx: &mut FilterContext) {
        for event in events.iter_mut() {
            self.tag(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::Format;

    fn registry() -> &'static Registry {
        Box::leak(Box::new(Registry::new()))
    }

    fn cx() -> BuildContext {
        BuildContext {
            pipeline: "p".into(),
            component: "tag_errors#0".into(),
        }
    }

    fn build_in(registry: &Registry, yaml: &str) -> Result<TagErrors, DeError> {
        let node = yaml::parse(yaml).expect("test YAML");
        let node = if node.is_null() {
            Node::empty_map(node.loc)
        } else {
            node
        };
        TagErrors::build(&node, &cx(), registry)
    }

    fn field(event: &Event, path: &str) -> Option<String> {
        event.get(&Path::parse(path).unwrap()).map(|v| v.to_text())
    }

    fn parsed(json: &str) -> Event {
        let mut e = Event::from_text(json);
        if let Ok(Value::Object(fields)) = crate::parsers::json::parse_value(&e.message) {
            e.fields = fields;
            e.meta.message_consumed = true;
        }
        e
    }

    const INLINE: &str = "rules:\n\
        - { code: DISK_FULL, severity: critical, type: disk, pattern: '\"No space left\"', description: Disk full }\n\
        - { code: ANY_ERROR, severity: error, pattern: 'ERROR' }\n\
        - { code: DISK_LATE, severity: info, pattern: 'No' }\n";

    #[test]
    fn first_matching_rule_wins_and_is_counted() {
        let r = registry();
        let f = build_in(r, INLINE).unwrap();
        assert_eq!(f.len(), 3, "inline rules only");
        let mut e = Event::from_text("ERROR write failed: No space left on device");
        assert_eq!(f.tag(&mut e), Some(&b"DISK_FULL"[..]));
        assert_eq!(field(&e, "error.code").as_deref(), Some("DISK_FULL"));
        assert_eq!(field(&e, "error.severity").as_deref(), Some("critical"));
        assert_eq!(field(&e, "error.type").as_deref(), Some("disk"));
        assert_eq!(field(&e, "error.message").as_deref(), Some("Disk full"));

        let mut e = Event::from_text("ERROR boom");
        f.tag(&mut e);
        assert_eq!(field(&e, "error.code").as_deref(), Some("ANY_ERROR"));
        assert_eq!(
            field(&e, "error.type").as_deref(),
            Some("ANY_ERROR"),
            "type defaults to the code"
        );
        assert_eq!(field(&e, "error.message"), None);

        let mut e = Event::from_text("all good");
        assert_eq!(f.tag(&mut e), None);
        assert!(e.fields.is_empty(), "untouched");

        let text = r.render(Format::Text);
        for line in [
            r#"weir_error_codes_total{code="ANY_ERROR",severity="error"} 1"#,
            r#"weir_error_codes_total{code="DISK_FULL",severity="critical"} 1"#,
            r#"weir_error_codes_total{code="DISK_LATE",severity="info"} 0"#,
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }

    #[test]
    fn an_existing_error_message_is_kept() {
        let r = registry();
        let f = build_in(r, INLINE).unwrap();
        let mut e = Event::from_text("No space left");
        e.mark_failure("_parse_failure", "json: invalid");
        f.tag(&mut e);
        assert_eq!(field(&e, "error.message").as_deref(), Some("json: invalid"));
        assert_eq!(field(&e, "error.code").as_deref(), Some("DISK_FULL"));
    }

    #[test]
    fn filter_passes_every_event_through() {
        let r = registry();
        let f = build_in(r, INLINE).unwrap();
        let mut events = vec![Event::from_text("ERROR a"), Event::from_text("fine")];
        f.process(&mut events, &mut FilterContext::default());
        assert_eq!(events.len(), 2);
    }

    #[test]
    fn the_shipped_catalog_loads_and_tags_aws_logs() {
        let entries = parse_catalog(BUILTIN_CATALOG, "builtin").expect("shipped catalog");
        let rules: usize = entries.iter().map(|e| e.rules().len()).sum();
        assert!(rules >= 20, "{rules}");
        let r = registry();
        let f = build_in(r, "").unwrap();
        assert_eq!(f.len(), rules);
        let code = |mut e: Event| {
            f.tag(&mut e)
                .map(|c| String::from_utf8_lossy(c).into_owned())
        };

        // S3 access logs (fields as the s3_access parser writes them).
        assert_eq!(
            code(parsed(r#"{"aws":{"s3access":{"error_code":"AccessDenied"}},"http":{"response":{"status_code":403}}}"#)).as_deref(),
            Some("S3_ACCESS_DENIED")
        );
        assert_eq!(
            code(parsed(r#"{"aws":{"s3access":{"error_code":"SlowDown"}},"http":{"response":{"status_code":503}}}"#)).as_deref(),
            Some("S3_SLOW_DOWN")
        );
        assert_eq!(
            code(parsed(r#"{"aws":{"s3access":{"error_code":"NoSuchBucketPolicy"}},"http":{"response":{"status_code":404}}}"#)).as_deref(),
            Some("S3_NO_SUCH_CONFIGURATION")
        );
        assert_eq!(
            code(parsed(
                r#"{"aws":{"s3access":{"error_code":"WeirdNewError"}}}"#
            ))
            .as_deref(),
            Some("S3_ERROR")
        );
        assert_eq!(
            code(parsed(
                r#"{"aws":{"s3access":{"operation":"REST.GET.OBJECT"}},"http":{"response":{"status_code":200}}}"#
            )),
            None
        );
        // VPC flow logs: parsed (both field styles) and raw default-format lines.
        assert_eq!(
            code(parsed(r#"{"aws":{"vpcflow":{"action":"REJECT"}}}"#)).as_deref(),
            Some("VPC_FLOW_REJECT")
        );
        assert_eq!(
            code(parsed(
                r#"{"event":{"action":"reject","type":["connection","denied"]}}"#
            ))
            .as_deref(),
            Some("VPC_FLOW_REJECT")
        );
        assert_eq!(
            code(parsed(
                r#"{"aws":{"vpcflow":{"action":"ACCEPT"}},"event":{"action":"accept","type":["connection","allowed"]}}"#
            )),
            None
        );
        // HTTP.
        assert_eq!(
            code(parsed(r#"{"http":{"response":{"status_code":502}}}"#)).as_deref(),
            Some("HTTP_5XX")
        );
        assert_eq!(
            code(parsed(r#"{"http":{"response":{"status_code":504}}}"#)).as_deref(),
            Some("HTTP_GATEWAY_TIMEOUT")
        );
        assert_eq!(
            code(parsed(r#"{"http":{"response":{"status_code":401}}}"#)).as_deref(),
            Some("HTTP_UNAUTHORIZED")
        );
        assert_eq!(
            code(parsed(r#"{"http":{"response":{"status_code":429}}}"#)).as_deref(),
            Some("HTTP_THROTTLED")
        );
        assert_eq!(
            code(parsed(r#"{"http":{"response":{"status_code":404}}}"#)),
            None
        );
        // CloudTrail (CIS benchmark alarms).
        assert_eq!(
            code(parsed(
                r#"{"errorCode":"Client.UnauthorizedOperation","eventName":"RunInstances"}"#
            ))
            .as_deref(),
            Some("AWS_UNAUTHORIZED_CALL")
        );
        assert_eq!(
            code(parsed(
                r#"{"eventName":"ConsoleLogin","errorMessage":"Failed authentication"}"#
            ))
            .as_deref(),
            Some("AWS_CONSOLE_LOGIN_FAILED")
        );
        // Auth, OOM, timeouts on raw lines.
        assert_eq!(
            code(Event::from_text("Oct 11 22:14:15 host sshd[42]: Failed password for root from 10.0.0.1 port 22 ssh2")).as_deref(),
            Some("AUTH_FAILED_PASSWORD")
        );
        assert_eq!(
            code(Event::from_text(
                "kernel: Out of memory: Killed process 1234 (java) total-vm:123kB"
            ))
            .as_deref(),
            Some("OOM_KILL")
        );
        assert_eq!(
            code(Event::from_text(
                "Exception in thread main java.lang.OutOfMemoryError: Java heap space"
            ))
            .as_deref(),
            Some("OOM_KILL")
        );
        assert_eq!(
            code(Event::from_text(
                "2024-01-01T00:00:00Z abc Task timed out after 3.00 seconds"
            ))
            .as_deref(),
            Some("TIMEOUT")
        );
        // Syslog severities come last.
        assert_eq!(
            code(parsed(
                r#"{"log":{"syslog":{"severity":{"code":2}}},"message":"disk error"}"#
            ))
            .as_deref(),
            Some("SYSLOG_CRITICAL")
        );
        assert_eq!(
            code(parsed(r#"{"log":{"syslog":{"severity":{"code":6}}}}"#)),
            None
        );
    }

    #[test]
    fn inline_rules_go_before_a_catalog() {
        let r = registry();
        let f = build_in(
            r,
            "catalog: builtin\nrules:\n  - { code: MY_5XX, severity: warning, pattern: '{ $.http.response.status_code = 502 }' }\n",
        )
        .unwrap();
        let mut e = parsed(r#"{"http":{"response":{"status_code":502}}}"#);
        assert_eq!(f.tag(&mut e), Some(&b"MY_5XX"[..]));
        let mut e = parsed(r#"{"http":{"response":{"status_code":500}}}"#);
        assert_eq!(f.tag(&mut e), Some(&b"HTTP_5XX"[..]));
    }

    #[test]
    fn catalog_files_and_their_errors() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.yaml");
        std::fs::write(
            &good,
            "rules:\n  - code: X\n    severity: error\n    pattern: ERROR\n",
        )
        .unwrap();
        let r = registry();
        let f = build_in(r, &format!("catalog: '{}'\n", good.display())).unwrap();
        assert_eq!(f.len(), 1);

        let bad = dir.path().join("bad.yaml");
        std::fs::write(
            &bad,
            "rules:\n  - code: OK\n    severity: error\n    pattern: ERROR\n  - code: BROKEN\n    severity: error\n    pattern: '[ip, user'\n  - code: WORSE\n    severity: fatal\n    pattern: x\n",
        )
        .unwrap();
        let e = build_in(r, &format!("catalog: '{}'\n", bad.display())).unwrap_err();
        assert_eq!(e.loc.map(|l| (l.line, l.column)), Some((1, 10)));
        let name = bad.display().to_string();
        assert!(
            e.message.starts_with(&format!(
                "error catalog {name}:7:14: rule #2 (`BROKEN`): invalid filter pattern at column 10: expected `]`"
            )),
            "{}",
            e.message
        );
        assert!(
            e.message.contains(&format!(
                "{name}:9:15: rule #3 (`WORSE`): unknown variant `fatal`"
            )),
            "{}",
            e.message
        );

        let e = build_in(r, "catalog: /nonexistent/catalog.yaml\n").unwrap_err();
        assert!(
            e.message
                .contains("cannot read error catalog `/nonexistent/catalog.yaml`"),
            "{}",
            e.message
        );
        assert!(e.message.contains("working directory"), "{}", e.message);

        assert!(parse_catalog("rules: {}\n", "c")
            .unwrap_err()
            .starts_with("c:1:8: `rules` is a list"));
        assert!(parse_catalog("rule: []\n", "c")
            .unwrap_err()
            .contains("unknown key `rule`"));
        assert!(parse_catalog("- a\n", "c")
            .unwrap_err()
            .contains("a map with a `rules:` list"));
    }

    #[test]
    fn inline_rule_errors_point_at_the_rule() {
        let r = registry();
        let e = build_in(
            r,
            "rules:\n  - { code: A, severity: error, pattern: '{ $.a = }' }\n",
        )
        .unwrap_err();
        assert_eq!(e.loc.map(|l| l.line), Some(2));
        assert!(
            e.message
                .starts_with("rule #1 (`A`): invalid filter pattern at column"),
            "{}",
            e.message
        );
        let e = build_in(
            r,
            "rules:\n  - { code: A, severity: error, pattern: x, colour: red }\n",
        )
        .unwrap_err();
        assert!(
            e.message.contains("unknown field `colour`"),
            "{}",
            e.message
        );
        let e = build_in(r, "rules: []\n").unwrap_err();
        assert!(e.message.contains("has no rules"), "{}", e.message);
        let e = build_in(r, "catalogue: x\n").unwrap_err();
        assert!(
            e.message.contains("unknown field `catalogue`"),
            "{}",
            e.message
        );
    }
    #[test]
    fn groups_gate_their_rules() {
        let r = registry();
        let f = build_in(
            r,
            "rules:\n\
             - group: http\n\
             \x20 when: '{ $.status >= 400 }'\n\
             \x20 rules:\n\
             \x20   - { code: NOT_FOUND, severity: notice, pattern: '{ $.status = 404 }' }\n\
             \x20   - { code: LOUD, severity: error, pattern: 'ERROR' }\n\
             - { code: ANY_ERROR, severity: warning, pattern: 'ERROR' }\n",
        )
        .unwrap();
        assert_eq!(f.len(), 3);
        let tagged = |json: &str| {
            let mut e = parsed(json);
            f.tag(&mut e)
                .map(|c| String::from_utf8_lossy(c).into_owned())
        };
        assert_eq!(tagged(r#"{"status":404}"#).as_deref(), Some("NOT_FOUND"));
        // `LOUD` is in the group: only tried when the gate matches.
        let mut e = Event::from_text("ERROR x");
        e.fields.insert("status", Value::Int(500));
        assert_eq!(f.tag(&mut e), Some(&b"LOUD"[..]));
        let mut e = Event::from_text("ERROR x");
        e.fields.insert("status", Value::Int(200));
        assert_eq!(f.tag(&mut e), Some(&b"ANY_ERROR"[..]));
        // A gate that matches with no rule matching falls through to later entries.
        assert_eq!(tagged(r#"{"status":500}"#), None);
    }

    #[test]
    fn group_errors_name_the_group() {
        let e = parse_catalog(
            "rules:\n  - group: g\n    when: x\n    rules:\n      - { code: A, severity: nope, pattern: x }\n",
            "c.yaml",
        )
        .unwrap_err();
        assert!(
            e.starts_with("c.yaml:5:30: group `g` rule #1 (`A`): unknown variant `nope`"),
            "{e}"
        );
        let e = parse_catalog(
            "rules:\n  - group: g\n    when: '{ $.a = }'\n    rules: []\n",
            "c.yaml",
        )
        .unwrap_err();
        assert!(
            e.starts_with("c.yaml:3:11: group `g` (entry #1): invalid filter pattern"),
            "{e}"
        );
        let e = parse_catalog(
            "rules:\n  - group: g\n    when: x\n    rules: []\n",
            "c.yaml",
        )
        .unwrap_err();
        assert!(e.contains("group `g` has no rules"), "{e}");
        let e = parse_catalog(
            "rules:\n  - group: g\n    when: x\n    rules:\n      - { group: h, when: y, rules: [] }\n",
            "c.yaml",
        )
        .unwrap_err();
        assert!(e.contains("groups do not nest"), "{e}");
    }

    #[test]
    fn unparsed_json_lines_are_parsed_once_for_all_rules() {
        let r = registry();
        let f = build_in(r, "").unwrap();
        let mut e = Event::from_text(r#"{"http":{"response":{"status_code":503}}}"#);
        assert_eq!(f.tag(&mut e), Some(&b"HTTP_SERVICE_UNAVAILABLE"[..]));
        // Only the error fields were added: the line stays the event's message.
        assert_eq!(
            field(&e, "message").as_deref(),
            Some(r#"{"http":{"response":{"status_code":503}}}"#)
        );
        assert!(e.fields.get("http").is_none());
        let mut e = Event::from_text("{ not json, but timed out");
        assert_eq!(f.tag(&mut e), Some(&b"TIMEOUT"[..]));
    }
}
