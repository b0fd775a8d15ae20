//! The pipeline file: top-level keys, components, and how they are checked.

use std::net::SocketAddr;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::error::{ConfigError, ConfigErrors};
use super::interpolate::interpolate;
use super::{from_node, yaml, DeError, Loc, Node, NodeKind};
use crate::filters::{self, BuildContext, Chain, Condition, Filter, Guarded};
use crate::inputs::{self, InputConfig};
use crate::outputs::{self, Claim, OutputConfig, WhenFull};
use crate::pattern::Pattern;

/// Top-level keys of a pipeline file.
pub const TOP_LEVEL_KEYS: &[&str] = &[
    "inputs",
    "filters",
    "outputs",
    "workers",
    "batch_size",
    "data_dir",
    "api",
    "shutdown_timeout",
];

/// Keys every input accepts besides its own.
const INPUT_COMMON: &[&str] = &["type", "format"];
/// Keys every output accepts besides its own.
const OUTPUT_COMMON: &[&str] = &["type", "when", "when_full", "buffer_batches"];

pub const DEFAULT_API_LISTEN: &str = "127.0.0.1:9600";
pub const DEFAULT_DATA_DIR: &str = "data";
pub const DEFAULT_BATCH_SIZE: usize = 512;
pub const DEFAULT_BUFFER_BATCHES: usize = 4;
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// One loaded, checked pipeline.
#[derive(Debug)]
pub struct PipelineSpec {
    pub name: Arc<str>,
    pub file: Arc<str>,
    pub workers: usize,
    pub batch_size: usize,
    pub inputs: Vec<InputSpec>,
    pub chain: Chain,
    pub outputs: Vec<OutputSpec>,
    pub settings: Settings,
}

#[derive(Debug)]
pub struct InputSpec {
    pub name: Arc<str>,
    pub kind: String,
    pub config: Arc<dyn InputConfig>,
    /// The input's `format:`: a parse applied to its events before the chain.
    pub format: Option<Arc<dyn Filter>>,
}

#[derive(Debug)]
pub struct OutputSpec {
    pub name: Arc<str>,
    pub kind: String,
    pub config: Arc<dyn OutputConfig>,
    pub when: Option<Arc<dyn Condition>>,
    pub when_full: WhenFull,
    pub buffer_batches: usize,
    /// Where the output is defined, for errors found after loading.
    pub loc: Loc,
}

/// Process-wide settings: any file may set them; files that disagree are an error.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub data_dir: Option<PathBuf>,
    pub api_listen: Option<SocketAddr>,
    pub shutdown_timeout: Option<Duration>,
}

impl Settings {
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
    }
}

impl Condition for Pattern {
    fn matches(&self, event: &crate::event::Event) -> bool {
        Pattern::matches(self, event)
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiConfig {
    listen: String,
}

/// Reads and checks a pipeline file; every problem found is returned.
pub fn load_file(path: &FsPath) -> Result<PipelineSpec, ConfigErrors> {
    let file: Arc<str> = Arc::from(path.display().to_string());
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError::new(
            &file,
            None,
            format!("cannot read the file: {e}"),
        )])
    })?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "pipeline".to_owned());
    load_str(&text, &file, &name, &|v| std::env::var(v).ok())
}

/// Reads and checks a pipeline from text (`file` names it in errors).
pub fn load_str(
    text: &str,
    file: &Arc<str>,
    name: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<PipelineSpec, ConfigErrors> {
    let mut errors = Vec::new();
    let mut root = yaml::parse(text).map_err(|e| {
        ConfigErrors(vec![ConfigError::new(
            file,
            Some(e.loc),
            format!("invalid YAML: {}", e.message),
        )])
    })?;
    root.visit_scalars_mut(
        &mut |text: &mut String, _plain: &mut bool, loc: Loc| {
            *text = interpolate(text, env).map_err(|m| ConfigError::new(file, Some(loc), m))?;
            Ok(())
        },
        &mut errors,
    );
    let Some(entries) = root.as_map() else {
        errors.push(ConfigError::new(
            file,
            Some(root.loc),
            format!(
                "a pipeline file is a map with keys {}; found {}",
                list(TOP_LEVEL_KEYS),
                root.describe()
            ),
        ));
        return Err(ConfigErrors(errors));
    };

    let pipeline: Arc<str> = Arc::from(name);
    let mut spec = PipelineSpec {
        name: pipeline.clone(),
        file: file.clone(),
        workers: default_workers(),
        batch_size: DEFAULT_BATCH_SIZE,
        inputs: Vec::new(),
        chain: Chain::default(),
        outputs: Vec::new(),
        settings: Settings {
            data_dir: None,
            api_listen: None,
            shutdown_timeout: None,
        },
    };
    let mut seen_inputs = false;
    let mut seen_outputs = false;
    let de_err = |loc: Loc, ctx: &str, e: DeError| ConfigError::from_de(file, loc, ctx, e);

    for (key, value) in entries {
        let key_name = key.as_str().unwrap_or_default();
        match key_name {
            "inputs" => {
                seen_inputs = true;
                for (name, node) in named_components(file, value, "inputs", &mut errors) {
                    if let Some(input) = load_input(file, &pipeline, &name, node, &mut errors) {
                        spec.inputs.push(input);
                    }
                }
            }
            "outputs" => {
                seen_outputs = true;
                for (name, node) in named_components(file, value, "outputs", &mut errors) {
                    if let Some(output) = load_output(file, &name, node, &mut errors) {
                        spec.outputs.push(output);
                    }
                }
            }
            "filters" => spec.chain = load_filters(file, &pipeline, value, &mut errors),
            "workers" => match from_node::<usize>(value) {
                Ok(0) => errors.push(ConfigError::new(
                    file,
                    Some(value.loc),
                    "workers must be at least 1",
                )),
                Ok(n) => spec.workers = n,
                Err(e) => errors.push(de_err(value.loc, "workers", e)),
            },
            "batch_size" => match from_node::<usize>(value) {
                Ok(0) => errors.push(ConfigError::new(
                    file,
                    Some(value.loc),
                    "batch_size must be at least 1",
                )),
                Ok(n) => spec.batch_size = n,
                Err(e) => errors.push(de_err(value.loc, "batch_size", e)),
            },
            "data_dir" => match from_node::<String>(value) {
                Ok(d) => spec.settings.data_dir = Some(PathBuf::from(d)),
                Err(e) => errors.push(de_err(value.loc, "data_dir", e)),
            },
            "shutdown_timeout" => match parse_duration(value) {
                Ok(d) => spec.settings.shutdown_timeout = Some(d),
                Err(e) => errors.push(de_err(value.loc, "shutdown_timeout", e)),
            },
            "api" => match from_node::<ApiConfig>(value) {
                Ok(api) => match api.listen.parse::<SocketAddr>() {
                    Ok(a) => spec.settings.api_listen = Some(a),
                    Err(e) => errors.push(ConfigError::new(
                        file,
                        Some(value.get("listen").map_or(value.loc, |n| n.loc)),
                        format!("api.listen `{}` is not `ip:port` ({e})", api.listen),
                    )),
                },
                Err(e) => errors.push(de_err(value.loc, "api", e)),
            },
            other => errors.push(ConfigError::new(
                file,
                Some(key.loc),
                format!(
                    "unknown top-level key `{other}`; expected one of: {}",
                    list(TOP_LEVEL_KEYS)
                ),
            )),
        }
    }
    if !seen_inputs || (spec.inputs.is_empty() && errors.is_empty()) {
        errors.push(ConfigError::new(
            file,
            Some(root.loc),
            "the pipeline has no inputs: add an `inputs:` map",
        ));
    }
    if !seen_outputs || (spec.outputs.is_empty() && errors.is_empty()) {
        errors.push(ConfigError::new(
            file,
            Some(root.loc),
            "the pipeline has no outputs: add an `outputs:` map",
        ));
    }
    if errors.is_empty() {
        Ok(spec)
    } else {
        Err(ConfigErrors(errors))
    }
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn list(items: &[&str]) -> String {
    items
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `30`, `30s`, `500ms`, `2m` (see [`super::duration`]).
fn parse_duration(node: &Node) -> Result<Duration, DeError> {
    super::duration::parse_duration(node.as_str().unwrap_or_default()).map_err(|message| DeError {
        message,
        loc: Some(node.loc),
    })
}

/// The `name: {…}` entries of `inputs` or `outputs`.
fn named_components<'a>(
    file: &Arc<str>,
    value: &'a Node,
    section: &str,
    errors: &mut Vec<ConfigError>,
) -> Vec<(String, &'a Node)> {
    let Some(entries) = value.as_map() else {
        errors.push(ConfigError::new(
            file,
            Some(value.loc),
            format!(
                "`{section}` is a map of names to components; found {}",
                value.describe()
            ),
        ));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in entries {
        let name = k.as_str().unwrap_or_default().to_owned();
        if v.as_map().is_none() {
            errors.push(ConfigError::new(
                file,
                Some(v.loc),
                format!(
                    "{} `{name}` must be a map with a `type`; found {}",
                    &section[..section.len() - 1],
                    v.describe()
                ),
            ));
            continue;
        }
        out.push((name, v));
    }
    out
}

/// The required `type` of a component.
fn component_type(
    file: &Arc<str>,
    what: &str,
    name: &str,
    node: &Node,
    known: &[&str],
    errors: &mut Vec<ConfigError>,
) -> Option<String> {
    match node.get("type") {
        Some(t) => match t.as_str() {
            Some(s) if known.contains(&s) => Some(s.to_owned()),
            Some(s) => {
                errors.push(ConfigError::new(
                    file,
                    Some(t.loc),
                    format!(
                        "{what} `{name}`: unknown type `{s}`; expected one of: {}",
                        known.join(", ")
                    ),
                ));
                None
            }
            None => {
                errors.push(ConfigError::new(
                    file,
                    Some(t.loc),
                    format!("{what} `{name}`: `type` must be a name"),
                ));
                None
            }
        },
        None => {
            errors.push(ConfigError::new(
                file,
                Some(node.loc),
                format!(
                    "{what} `{name}` needs a `type`: one of {}",
                    known.join(", ")
                ),
            ));
            None
        }
    }
}

fn load_input(
    file: &Arc<str>,
    pipeline: &Arc<str>,
    name: &str,
    node: &Node,
    errors: &mut Vec<ConfigError>,
) -> Option<InputSpec> {
    let kind = component_type(file, "input", name, node, inputs::registry::INPUTS, errors)?;
    // Inputs that decode `format` themselves get it among their options and
    // say what, if anything, is left for a parse filter.
    let reads_format = inputs::registry::READS_FORMAT.contains(&kind.as_str());
    let own_keys: &[&str] = if reads_format { &["type"] } else { INPUT_COMMON };
    let (_, rest) = node.split_keys(own_keys);
    let (common, _) = node.split_keys(INPUT_COMMON);
    let context = format!("input `{name}` ({kind})");
    let config = match inputs::registry::build(&kind, &rest) {
        Ok(c) => Some(c),
        Err(e) => {
            errors.push(ConfigError::from_de(file, node.loc, &context, e));
            None
        }
    };
    let mut format = None;
    let format_node = common.iter().find(|(k, _)| k == "format").map(|(_, f)| f);
    let parse_format = match (&config, format_node) {
        (Some(config), Some(f)) if reads_format => config
            .pipeline_format()
            .map(|name| Node::scalar(name, f.loc)),
        (_, Some(f)) if !reads_format => Some(f.clone()),
        _ => None,
    };
    if let Some(f) = parse_format {
        let options = Node {
            kind: NodeKind::Map(vec![(Node::scalar("format", f.loc), f.clone())]),
            loc: f.loc,
        };
        let cx = BuildContext {
            pipeline: pipeline.clone(),
            component: Arc::from(format!("{name}.format")),
        };
        match filters::registry::build_parse(&options, &cx) {
            Ok(p) => format = Some(p),
            Err(e) => errors.push(ConfigError::from_de(file, f.loc, &context, e)),
        }
    }
    Some(InputSpec {
        name: Arc::from(name),
        kind,
        config: config?,
        format,
    })
}

fn load_output(
    file: &Arc<str>,
    name: &str,
    node: &Node,
    errors: &mut Vec<ConfigError>,
) -> Option<OutputSpec> {
    let kind = component_type(
        file,
        "output",
        name,
        node,
        outputs::registry::OUTPUTS,
        errors,
    )?;
    let (common, rest) = node.split_keys(OUTPUT_COMMON);
    let context = format!("output `{name}` ({kind})");
    let mut failed = false;
    let config = outputs::registry::build(&kind, &rest)
        .map_err(|e| errors.push(ConfigError::from_de(file, node.loc, &context, e)))
        .ok();
    let mut spec_when = None;
    let mut when_full = WhenFull::default();
    let mut buffer_batches = DEFAULT_BUFFER_BATCHES;
    for (key, value) in &common {
        match key.as_str() {
            "when" => match condition(value) {
                Ok(c) => spec_when = Some(c),
                Err(e) => {
                    failed = true;
                    errors.push(ConfigError::from_de(file, value.loc, &context, e));
                }
            },
            "when_full" => match from_node::<WhenFull>(value) {
                Ok(w) => when_full = w,
                Err(e) => {
                    failed = true;
                    errors.push(ConfigError::from_de(file, value.loc, &context, e));
                }
            },
            "buffer_batches" => match from_node::<usize>(value) {
                Ok(n) if n > 0 => buffer_batches = n,
                Ok(_) => {
                    failed = true;
                    errors.push(ConfigError::new(
                        file,
                        Some(value.loc),
                        format!("{context}: buffer_batches must be at least 1"),
                    ));
                }
                Err(e) => {
                    failed = true;
                    errors.push(ConfigError::from_de(file, value.loc, &context, e));
                }
            },
            _ => {}
        }
    }
    if failed {
        return None;
    }
    Some(OutputSpec {
        name: Arc::from(name),
        kind,
        config: config?,
        when: spec_when,
        when_full,
        buffer_batches,
        loc: node.loc,
    })
}

/// Checks that the outputs of all `specs` (the pipelines of one process) do
/// not fight over a process-wide resource (see [`OutputConfig::claims`]): two
/// listeners on one address (the API's `api.listen` included), two pushers of
/// one Pushgateway group, two different values for one shared setting. Each
/// clash is reported at the later output and names the earlier one.
pub fn check_claims(specs: &[PipelineSpec]) -> Vec<ConfigError> {
    struct Owner<'a> {
        what: String,
        file: &'a Arc<str>,
        loc: Option<Loc>,
        claim: Claim,
    }
    let mut owners: Vec<Owner<'_>> = Vec::new();
    // The API listens too: default address unless a file sets one.
    let api = specs
        .iter()
        .find_map(|s| s.settings.api_listen.map(|a| (a, Some(&s.file))))
        .or_else(|| {
            DEFAULT_API_LISTEN
                .parse::<SocketAddr>()
                .ok()
                .map(|a| (a, specs.first().map(|s| &s.file)))
        });
    if let Some((address, Some(file))) = api {
        owners.push(Owner {
            what: "the API (`api.listen`)".to_owned(),
            file,
            loc: None,
            claim: Claim::Listen(address),
        });
    }
    let mut errors = Vec::new();
    for spec in specs {
        for output in &spec.outputs {
            for claim in output.config.claims() {
                let what = format!(
                    "output `{}` of pipeline `{}` ({})",
                    output.name, spec.name, output.kind
                );
                if let Some(first) = owners.iter().find(|o| o.claim.conflicts_with(&claim)) {
                    let at = match first.loc {
                        Some(loc) => format!("{}:{loc}", first.file),
                        None => first.file.to_string(),
                    };
                    let message = match (&claim, &first.claim) {
                        (Claim::Listen(address), Claim::Listen(other)) => format!(
                            "{what} listens on {address}, but {} ({at}) already listens on \
                             {other}: give each its own `listen` address",
                            first.what
                        ),
                        (Claim::Exclusive(thing), _) => format!(
                            "{what} and {} ({at}) both take {thing}: they would overwrite \
                             each other",
                            first.what
                        ),
                        (Claim::Setting { key, value }, Claim::Setting { value: earlier, .. }) => {
                            format!(
                                "{what} sets {key} to {value}, but {} ({at}) sets it to \
                             {earlier}: the setting is process-wide, set it alike or once",
                                first.what
                            )
                        }
                        _ => format!("{what} clashes with {} ({at})", first.what),
                    };
                    errors.push(ConfigError::new(&spec.file, Some(output.loc), message));
                    continue;
                }
                owners.push(Owner {
                    what,
                    file: &spec.file,
                    loc: Some(output.loc),
                    claim,
                });
            }
        }
    }
    errors
}

/// A `when:` condition: a filter pattern.
pub fn condition(node: &Node) -> Result<Arc<dyn Condition>, DeError> {
    let text: String = from_node(node)?;
    Pattern::compile(&text)
        .map(|p| Arc::new(p) as Arc<dyn Condition>)
        .map_err(|e| DeError {
            message: format!("invalid `when` pattern: {e}"),
            loc: Some(node.loc),
        })
}

fn load_filters(
    file: &Arc<str>,
    pipeline: &Arc<str>,
    value: &Node,
    errors: &mut Vec<ConfigError>,
) -> Chain {
    let NodeKind::Seq(items) = &value.kind else {
        if !value.is_null() {
            errors.push(ConfigError::new(
                file,
                Some(value.loc),
                format!(
                    "`filters` is a list of one-key maps (`- parse: {{ format: json }}`); found {}",
                    value.describe()
                ),
            ));
        }
        return Chain::default();
    };
    let mut chain = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let entry = match item.as_map() {
            Some([(k, v)]) => Some((k, v)),
            _ => None,
        };
        // A bare name (`- drop`) is a filter without options.
        let bare;
        let (key, options) = match (entry, item.as_str()) {
            (Some(e), _) => e,
            (None, Some(_)) => {
                bare = Node::empty_map(item.loc);
                (item, &bare)
            }
            (None, None) => {
                errors.push(ConfigError::new(
                    file,
                    Some(item.loc),
                    format!(
                        "filter #{} must be a map with exactly one key, the filter's name ({}), e.g. `- parse: {{ format: json }}`",
                        index + 1,
                        filters::registry::FILTERS.join(", ")
                    ),
                ));
                continue;
            }
        };
        let name = key.as_str().unwrap_or_default();
        if !filters::registry::FILTERS.contains(&name) {
            errors.push(ConfigError::new(
                file,
                Some(key.loc),
                format!(
                    "unknown filter `{name}`; expected one of: {}",
                    filters::registry::FILTERS.join(", ")
                ),
            ));
            continue;
        }
        let options = if options.is_null() {
            Node::empty_map(options.loc)
        } else {
            options.clone()
        };
        if options.as_map().is_none() {
            errors.push(ConfigError::new(
                file,
                Some(options.loc),
                format!(
                    "the options of `{name}` must be a map (use `{{}}` for none); found {}",
                    options.describe()
                ),
            ));
            continue;
        }
        let (common, rest) = options.split_keys(&["when"]);
        let context = format!("filter #{} ({name})", index + 1);
        let cx = BuildContext {
            pipeline: pipeline.clone(),
            component: Arc::from(format!("{name}#{index}")),
        };
        let built = filters::registry::build(name, &rest, &cx);
        let when = common.first().map(|(_, node)| (node.loc, condition(node)));
        match (built, when) {
            (Ok(f), None) => chain.push(f),
            (Ok(f), Some((_, Ok(c)))) => {
                chain.push(Arc::new(Guarded::new(c, f)) as Arc<dyn Filter>)
            }
            (built, when) => {
                if let Err(e) = built {
                    errors.push(ConfigError::from_de(file, options.loc, &context, e));
                }
                if let Some((loc, Err(e))) = when {
                    errors.push(ConfigError::from_de(file, loc, &context, e));
                }
            }
        }
    }
    Chain::new(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<PipelineSpec, String> {
        let env = |name: &str| match name {
            "PORT" => Some("6000".to_owned()),
            _ => None,
        };
        load_str(text, &Arc::from("p.yaml"), "p", &env).map_err(|e| e.to_string())
    }

    #[test]
    fn a_complete_pipeline_loads() {
        let spec = load(
            "inputs:\n  in: { type: tcp, address: '127.0.0.1:${PORT}', framing: json }\n\
             filters:\n  - parse: { format: json }\n  - set: { field: a, value: 1 }\n  - drop\n\
             outputs:\n  out: { type: stdout, when_full: drop_newest }\nworkers: 3\nshutdown_timeout: 5s\n",
        )
        .unwrap();
        assert_eq!(spec.inputs.len(), 1);
        assert_eq!(spec.chain.len(), 3);
        assert_eq!(spec.outputs[0].when_full, WhenFull::DropNewest);
        assert_eq!(spec.workers, 3);
        assert_eq!(spec.settings.shutdown_timeout, Some(Duration::from_secs(5)));
    }

    #[test]
    fn errors_name_file_line_column_and_expectations() {
        let e =
            load("inputs:\n  in:\n    type: tcp\n    adress: x\noutputs:\n  o: { type: stdout }\n")
                .unwrap_err();
        assert!(
            e.starts_with("p.yaml:4:5: input `in` (tcp): unknown field `adress`"),
            "{e}"
        );
        assert!(e.contains("`address`"), "{e}");

        let e =
            load("inputs:\n  in: { type: tcpp }\noutputs:\n  o: { type: stdout }\n").unwrap_err();
        assert!(
            e.contains("p.yaml:2:15: input `in`: unknown type `tcpp`; expected one of: tcp"),
            "{e}"
        );

        let e = load("inputs:\n  in: { type: stdin }\nfilters:\n  - parse: { format: nope }\noutputs:\n  o: { type: stdout }\n").unwrap_err();
        assert!(
            e.contains("p.yaml:4:22: filter #1 (parse): unknown format `nope`"),
            "{e}"
        );

        let e = load("inputs:\n  in: { type: stdin }\nfilters:\n  - grep: {}\noutputs:\n  o: { type: stdout }\n").unwrap_err();
        assert!(e.contains("p.yaml:4:5: unknown filter `grep`"), "{e}");

        let e = load("inputs:\n  in: { type: stdin, format: json }\noutputs:\n  o: { type: stdout, when_full: later }\n").unwrap_err();
        assert!(
            e.contains("p.yaml:4:33: output `o` (stdout): unknown variant `later`"),
            "{e}"
        );
    }

    #[test]
    fn every_error_is_reported_at_once() {
        let e = load("inputs:\n  a: { type: tcp, port: 1 }\n  b: { type: nope }\noutputs:\n  o: { type: file }\nextra: 1\n").unwrap_err();
        assert_eq!(e.lines().count(), 4, "{e}");
        assert!(e.contains("missing field `path`"), "{e}");
        assert!(e.contains("unknown top-level key `extra`"), "{e}");
    }

    #[test]
    fn missing_variables_and_bad_yaml() {
        let e = load(
            "inputs:\n  in: { type: tcp, address: '${NOPE}' }\noutputs:\n  o: { type: stdout }\n",
        )
        .unwrap_err();
        assert!(
            e.contains("p.yaml:2:29: environment variable `NOPE` is not set"),
            "{e}"
        );
        let e = load("inputs: [\n").unwrap_err();
        assert!(e.starts_with("p.yaml:"), "{e}");
        assert!(e.contains("invalid YAML"), "{e}");
        let e = load("inputs:\n  in: { type: stdin }\n").unwrap_err();
        assert!(e.contains("no outputs"), "{e}");
    }

    #[test]
    fn tcp_address_is_checked() {
        let e = load(
            "inputs:\n  in: { type: tcp, address: 'localhost' }\noutputs:\n  o: { type: stdout }\n",
        )
        .unwrap_err();
        assert!(e.contains("address `localhost` is not `host:port`"), "{e}");
    }
}
