//! `weir test`: unit tests for pipeline authors.
//!
//! A file `NAME.test.yaml` beside `NAME.yaml` lists example events and what
//! the pipeline's filters must make of them:
//!
//! ```yaml
//! tests:
//!   - name: error lines are tagged
//!     input: '{"level":"error","status":503}'   # one raw line (or `inputs:` for several)
//!     through: app                              # which input's `format:` applies (default: the first input)
//!     expect:                                   # fields of the first resulting event, by path
//!       status: 503
//!       alert: true
//!     absent: [debug]                           # fields that must not exist
//!     tags: [_parse_failure]                    # tags that must be present
//!   - name: debug lines are dropped
//!     input: '{"level":"debug"}'
//!     dropped: true
//! ```

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;

use super::error::{ConfigError, ConfigErrors};
use super::{from_node, yaml, PipelineSpec};
use crate::event::json::to_string;
use crate::event::{Event, Path, Value};
use crate::filters::FilterContext;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    tests: Vec<TestCase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestCase {
    name: String,
    #[serde(default)]
    input: Option<String>,
    #[serde(default)]
    inputs: Vec<String>,
    #[serde(default)]
    through: Option<String>,
    #[serde(default)]
    expect: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    absent: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    dropped: bool,
    /// How many events must come out (default: not checked).
    #[serde(default)]
    count: Option<usize>,
}

/// The test file that belongs to a pipeline file.
pub fn test_file_for(pipeline: &FsPath) -> PathBuf {
    let stem = pipeline
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    pipeline.with_file_name(format!("{stem}.test.yaml"))
}

/// The outcome of one test case.
#[derive(Debug)]
pub struct Outcome {
    pub name: String,
    pub failures: Vec<String>,
}

/// Runs the cases of `tests` (a test file) against `spec`.
pub fn run_tests(spec: &PipelineSpec, tests: &FsPath) -> Result<Vec<Outcome>, ConfigErrors> {
    let file: Arc<str> = Arc::from(tests.display().to_string());
    let text = std::fs::read_to_string(tests).map_err(|e| {
        ConfigErrors(vec![ConfigError::new(
            &file,
            None,
            format!("cannot read the file: {e}"),
        )])
    })?;
    let root = yaml::parse(&text).map_err(|e| {
        ConfigErrors(vec![ConfigError::new(
            &file,
            Some(e.loc),
            format!("invalid YAML: {}", e.message),
        )])
    })?;
    let parsed: TestFile = from_node(&root)
        .map_err(|e| ConfigErrors(vec![ConfigError::from_de(&file, root.loc, "", e)]))?;
    Ok(parsed
        .tests
        .iter()
        .map(|case| run_case(spec, case))
        .collect())
}

fn run_case(spec: &PipelineSpec, case: &TestCase) -> Outcome {
    let mut failures = Vec::new();
    let input_index = match &case.through {
        None => 0,
        Some(name) => match spec.inputs.iter().position(|i| &*i.name == name) {
            Some(i) => i,
            None => {
                failures.push(format!("`through: {name}` names no input of the pipeline"));
                0
            }
        },
    };
    let lines: Vec<&String> = case.input.iter().chain(case.inputs.iter()).collect();
    if lines.is_empty() {
        failures.push("the case has no `input` or `inputs`".into());
    }
    let mut events: Vec<Event> = lines
        .iter()
        .map(|l| Event::new(Bytes::copy_from_slice(l.as_bytes()), chrono::Utc::now()))
        .collect();
    let mut cx = FilterContext::default();
    if let Some(Some(format)) = spec.inputs.get(input_index).map(|i| &i.format) {
        format.process(&mut events, &mut cx);
    }
    spec.chain.run(&mut events, &mut cx);
    for d in &cx.dead_letters {
        failures.push(format!(
            "an event went to the dead-letter queue: {}",
            d.reason
        ));
    }
    if let Some(n) = case.count {
        if events.len() != n {
            failures.push(format!("expected {n} events, got {}", events.len()));
        }
    }
    if case.dropped {
        if !events.is_empty() {
            failures.push(format!(
                "expected the event to be dropped, got {}",
                to_string(&events[0])
            ));
        }
        return Outcome {
            name: case.name.clone(),
            failures,
        };
    }
    let Some(event) = events.first() else {
        failures.push("every event was dropped".into());
        return Outcome {
            name: case.name.clone(),
            failures,
        };
    };
    let shown = to_string(event);
    for (path, want) in &case.expect {
        match Path::parse(path) {
            Err(e) => failures.push(e.to_string()),
            Ok(p) => {
                let got = event.get(&p);
                if !equal(got.as_ref(), want) {
                    failures.push(format!(
                        "`{path}`: expected {want}, got {} in {shown}",
                        got.map_or("nothing".to_owned(), |v| json_of(&v))
                    ));
                }
            }
        }
    }
    for path in &case.absent {
        if let Ok(p) = Path::parse(path) {
            if event.get(&p).is_some() {
                failures.push(format!("`{path}` should be absent in {shown}"));
            }
        }
    }
    for tag in &case.tags {
        if !event.has_tag(tag) {
            failures.push(format!("tag `{tag}` missing in {shown}"));
        }
    }
    Outcome {
        name: case.name.clone(),
        failures,
    }
}

fn json_of(v: &Value) -> String {
    let mut buf = bytes::BytesMut::new();
    crate::event::json::write_value(v, &mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// Compares through JSON so `200` matches an integer field and `"x"` a string.
fn equal(got: Option<&Value>, want: &serde_json::Value) -> bool {
    let Some(got) = got else {
        return want.is_null();
    };
    match serde_json::from_str::<serde_json::Value>(&json_of(got)) {
        Ok(g) => match (&g, want) {
            (serde_json::Value::Number(a), serde_json::Value::Number(b)) => {
                a.as_f64() == b.as_f64()
            }
            _ => &g == want,
        },
        Err(_) => false,
    }
}
