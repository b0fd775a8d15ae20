//! The container stack in `docker/`, checked without a Docker engine.
//!
//! No engine is available where the tests run, so the stack is checked piece
//! by piece with the real tools that read each piece:
//! - `docker-compose` (Debian's 1.29) parses and schema-checks the compose
//!   file; its resolved `config` output is what the other checks read
//!   (services, commands, mounts, environment), so they see the file exactly
//!   as Compose would run it;
//! - every bind-mounted path exists, and every pipeline a weir service runs
//!   passes `weir validate`, loaded together as `weir run` would load them,
//!   with the service's environment and the image's working directory;
//! - `hadolint` lints the Dockerfile, `shellcheck` the scripts the one-shot
//!   containers run, `promtool` the Prometheus configuration and every PromQL
//!   query of the Grafana dashboards;
//! - the Kibana saved objects reference only fields that weir really
//!   produces: the stack's sample logs are run through each pipeline's own
//!   input format and filter chain by the real `weir` binary, and every field
//!   a data view, visualization or saved search names must be in that output;
//! - the Grafana queries name only metrics weir exports: its own `weir_…`
//!   metrics (the table in `src/telemetry/internal.rs`) or those the stack's
//!   pipelines declare (`metric_filter`, `threshold`), with labels they carry.

mod common;
#[path = "elasticsearch/osmem.rs"]
mod osmem;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::*;
use serde_json::{json, Value};
use weir::config::yaml::{self, Node, NodeKind};

const COMPOSE_FILE: &str = "docker/docker-compose.yml";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs a tool that `scripts/provision` installs, failing with that hint when
/// it is missing.
fn run_tool(cmd: &mut Command) -> Output {
    let name = cmd.get_program().to_string_lossy().into_owned();
    match cmd.output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("`{name}` is not installed: run scripts/provision (and source scripts/env.sh)")
        }
        Err(e) => panic!("cannot run `{name}`: {e}"),
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

// ---- YAML and compose ---------------------------------------------------------

/// A YAML node as JSON: plain scalars typed by their text (as weir and YAML
/// 1.2 read them), quoted ones as strings.
fn yaml_to_json(node: &Node) -> Value {
    match &node.kind {
        NodeKind::Scalar { text, plain } => {
            if !plain {
                return Value::String(text.clone());
            }
            match text.as_str() {
                "" | "~" | "null" | "Null" | "NULL" => Value::Null,
                "true" | "True" | "TRUE" => Value::Bool(true),
                "false" | "False" | "FALSE" => Value::Bool(false),
                t => {
                    if let Ok(i) = t.parse::<i64>() {
                        json!(i)
                    } else if let Some(f) = t
                        .parse::<f64>()
                        .ok()
                        .filter(|f| f.is_finite() && t.contains(['.', 'e', 'E']))
                    {
                        json!(f)
                    } else {
                        Value::String(t.to_owned())
                    }
                }
            }
        }
        NodeKind::Seq(items) => Value::Array(items.iter().map(yaml_to_json).collect()),
        NodeKind::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_owned(), yaml_to_json(v)))
                .collect(),
        ),
    }
}

fn read_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_yaml(&text, &path.display().to_string())
}

fn parse_yaml(text: &str, what: &str) -> Value {
    let node = yaml::parse(text).unwrap_or_else(|e| panic!("{what}: invalid YAML: {}", e.message));
    yaml_to_json(&node)
}

/// `docker-compose config` with a controlled environment: nothing from the
/// test's own environment changes the defaults the file is checked with.
fn compose(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new("docker-compose");
    cmd.current_dir(repo())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .args(["-f", COMPOSE_FILE])
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_tool(&mut cmd)
}

/// The resolved compose configuration with every default in place.
fn stack() -> &'static Value {
    static STACK: OnceLock<Value> = OnceLock::new();
    STACK.get_or_init(|| {
        let out = compose(&["config"], &[]);
        assert!(
            out.status.success(),
            "docker-compose config failed:\n{}",
            text(&out)
        );
        parse_yaml(
            &String::from_utf8_lossy(&out.stdout),
            "docker-compose config output",
        )
    })
}

fn services() -> &'static serde_json::Map<String, Value> {
    stack()["services"].as_object().expect("services")
}

/// One volume entry of a service, from the resolved config
/// (`source:target[:mode]`; sources are absolute host paths or volume names).
#[derive(Debug, Clone)]
struct Mount {
    source: String,
    target: String,
}

impl Mount {
    fn is_bind(&self) -> bool {
        self.source.starts_with('/')
    }
}

fn mounts(service: &Value) -> Vec<Mount> {
    service["volumes"]
        .as_array()
        .map(|v| {
            v.iter()
                .map(|m| match m {
                    Value::String(s) => {
                        let mut parts = s.splitn(3, ':');
                        let source = parts.next().unwrap_or_default().to_owned();
                        let target = parts
                            .next()
                            .unwrap_or_else(|| panic!("mount `{s}` has no target"));
                        Mount {
                            source,
                            target: target.to_owned(),
                        }
                    }
                    other => Mount {
                        source: other["source"].as_str().unwrap_or_default().to_owned(),
                        target: other["target"].as_str().expect("mount target").to_owned(),
                    },
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The host path a container path of `service` comes from, through its bind
/// mounts (the longest matching target wins).
fn host_path(service: &Value, container_path: &str) -> Option<PathBuf> {
    mounts(service)
        .into_iter()
        .filter(|m| m.is_bind())
        .filter_map(|m| {
            let rest = container_path.strip_prefix(m.target.trim_end_matches('/'))?;
            (rest.is_empty() || rest.starts_with('/')).then(|| {
                (
                    m.target.len(),
                    PathBuf::from(format!("{}{rest}", m.source.trim_end_matches('/'))),
                )
            })
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, p)| p)
}

/// The services that run weir: built from docker/Dockerfile.
fn weir_services() -> Vec<(&'static str, &'static Value)> {
    let list: Vec<_> = services()
        .iter()
        .filter(|(_, s)| s["build"]["dockerfile"].as_str() == Some("docker/Dockerfile"))
        .map(|(n, s)| (n.as_str(), s))
        .collect();
    assert!(!list.is_empty(), "no service builds docker/Dockerfile");
    list
}

fn profiles(service: &Value) -> Vec<String> {
    service["profiles"]
        .as_array()
        .map(|p| {
            p.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The pipeline files a weir service runs: its `run` arguments, as container
/// paths and the host files mounted there.
fn service_pipelines(name: &str, service: &Value) -> Vec<(String, PathBuf)> {
    let command: Vec<&str> = service["command"]
        .as_array()
        .unwrap_or_else(|| panic!("service {name}: `command` must be a list"))
        .iter()
        .map(|a| a.as_str().expect("command argument"))
        .collect();
    assert_eq!(
        command.first(),
        Some(&"run"),
        "service {name} must `run` pipelines"
    );
    command[1..]
        .iter()
        .map(|c| {
            let host = host_path(service, c)
                .unwrap_or_else(|| panic!("service {name}: {c} is not in a bind mount"));
            ((*c).to_owned(), host)
        })
        .collect()
}

/// The environment weir sees in a service: its `environment`, with values
/// passed through from the host (null) given a placeholder.
fn service_env(service: &Value) -> Vec<(String, String)> {
    service["environment"]
        .as_object()
        .map(|env| {
            env.iter()
                .map(|(k, v)| {
                    let v = match v {
                        // Passed through from the host: a stand-in of the
                        // right shape (queue URLs are checked by validate).
                        Value::Null if k.ends_with("_QUEUE") => format!(
                            "https://sqs.us-east-1.amazonaws.com/123456789012/test-{}",
                            k.to_lowercase()
                        ),
                        Value::Null => format!("test-{}", k.to_lowercase()),
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), v)
                })
                .collect()
        })
        .unwrap_or_default()
}

// ---- the Dockerfile -------------------------------------------------------------

fn dockerfile() -> String {
    std::fs::read_to_string(repo().join("docker/Dockerfile")).expect("docker/Dockerfile")
}

/// The Dockerfile's instructions (continuation lines joined, comments out).
fn instructions() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in dockerfile().lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(line);
        let (op, args) = current.split_once(' ').unwrap_or((&current, ""));
        out.push((op.to_uppercase(), args.trim().to_owned()));
        current.clear();
    }
    out
}

/// The runtime stage's working directory and what it copies there from the
/// build context: (path under the working directory, repository path).
fn image_workdir() -> (String, Vec<(String, PathBuf)>) {
    let all = instructions();
    let last_from = all.iter().rposition(|(op, _)| op == "FROM").expect("FROM");
    let runtime = &all[last_from..];
    let workdir = runtime
        .iter()
        .rev()
        .find(|(op, _)| op == "WORKDIR")
        .map(|(_, a)| a.clone())
        .expect("the runtime stage sets WORKDIR");
    let copies = runtime
        .iter()
        .filter(|(op, a)| op == "COPY" && !a.contains("--from"))
        .map(|(_, a)| {
            let parts: Vec<&str> = a
                .split_whitespace()
                .filter(|p| !p.starts_with("--"))
                .collect();
            assert_eq!(parts.len(), 2, "COPY with one source: {a}");
            let dest = parts[1]
                .trim_start_matches("./")
                .trim_end_matches('/')
                .to_owned();
            (dest, repo().join(parts[0]))
        })
        .collect();
    (workdir, copies)
}

/// A directory laid out like the image's working directory, so relative
/// paths in pipelines (`grammars/…`) resolve as they do in the container.
fn workdir_view() -> tempfile::TempDir {
    let (_, copies) = image_workdir();
    let dir = tempfile::tempdir().expect("tempdir");
    for (dest, source) in copies {
        let link = dir.path().join(&dest);
        if let Some(parent) = link.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::os::unix::fs::symlink(&source, &link).expect("symlink");
    }
    dir
}

#[test]
fn compose_file_is_schema_valid_for_docker_compose() {
    for args in [
        &["config", "-q"][..],
        &["--profile", "aws", "config", "-q"][..],
    ] {
        let out = compose(args, &[]);
        assert!(
            out.status.success(),
            "docker-compose {args:?}:\n{}",
            text(&out)
        );
    }
    // Compose rejects what it does not know; make sure that is so here too.
    let bad = tempfile::NamedTempFile::new().expect("tempfile");
    std::fs::write(bad.path(), "services:\n  weir:\n    image: weir\n    depends_on:\n      es: { condition: service_sleepy }\n")
        .expect("write");
    let mut cmd = Command::new("docker-compose");
    cmd.arg("-f").arg(bad.path()).args(["config", "-q"]);
    let out = run_tool(&mut cmd);
    assert!(
        !out.status.success(),
        "docker-compose accepted an invalid file"
    );
}

#[test]
fn the_stack_has_its_services_healthchecks_and_start_order() {
    let s = services();
    for name in [
        "elasticsearch",
        "kibana",
        "kibana-setup",
        "weir",
        "prometheus",
        "grafana",
    ] {
        assert!(s.contains_key(name), "no service `{name}`");
    }
    for name in ["elasticsearch", "kibana", "weir", "prometheus", "grafana"] {
        assert!(
            s[name]["healthcheck"]["test"].is_array(),
            "service {name} has no healthcheck"
        );
    }
    for (name, service) in weir_services() {
        assert_eq!(
            service["depends_on"]["elasticsearch"]["condition"], "service_healthy",
            "{name} must start once Elasticsearch is healthy"
        );
        let health = service["healthcheck"]["test"].to_string();
        assert!(health.contains("127.0.0.1:9600/health"), "{name}: {health}");
        let data = mounts(service)
            .into_iter()
            .find(|m| m.target == "/var/lib/weir")
            .unwrap_or_else(|| panic!("{name}: no volume at /var/lib/weir (data_dir)"));
        assert!(!data.is_bind(), "{name}: data_dir should be a named volume");
    }
    assert_eq!(
        s["kibana-setup"]["depends_on"]["kibana"]["condition"],
        "service_healthy"
    );
    assert_eq!(
        s["weir"]["depends_on"]["samples"]["condition"],
        "service_completed_successfully"
    );
    // AWS credentials are passed through, never written down.
    let aws = &s["weir-aws"]["environment"];
    for key in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ] {
        assert!(
            aws.get(key).is_some_and(Value::is_null),
            "{key} must be passed through: {aws}"
        );
    }
    let source = std::fs::read_to_string(repo().join(COMPOSE_FILE)).expect("compose file");
    assert!(
        !source.contains("AKIA"),
        "an access key id in the compose file"
    );
    // Every named volume a service uses is declared.
    let declared = stack()["volumes"].as_object().expect("volumes");
    for (name, service) in s {
        for m in mounts(service).into_iter().filter(|m| !m.is_bind()) {
            assert!(
                declared.contains_key(&m.source),
                "{name}: volume `{}` is not declared",
                m.source
            );
        }
    }
}

#[test]
fn every_bind_mounted_path_exists() {
    let mut checked = 0;
    for (name, service) in services() {
        for m in mounts(service).into_iter().filter(Mount::is_bind) {
            let p = Path::new(&m.source);
            assert!(
                p.exists(),
                "service {name}: {} (mounted at {}) does not exist",
                m.source,
                m.target
            );
            // A target that names a file must be given a file, or Docker
            // creates a directory there.
            let looks_like_file = Path::new(&m.target).extension().is_some();
            assert_eq!(
                p.is_file(),
                looks_like_file,
                "service {name}: {} → {}",
                m.source,
                m.target
            );
            checked += 1;
        }
    }
    assert!(checked >= 8, "only {checked} bind mounts");
    // The default host directory for local AWS log files has the layout the
    // file pipelines read.
    for sub in ["s3-access", "vpc-flow"] {
        assert!(
            repo().join("docker/logs").join(sub).is_dir(),
            "docker/logs/{sub}"
        );
    }
}

#[test]
fn dockerfile_passes_hadolint_and_builds_what_the_stack_needs() {
    let mut cmd = Command::new("hadolint");
    cmd.arg(repo().join("docker/Dockerfile"));
    let out = run_tool(&mut cmd);
    assert!(out.status.success(), "hadolint:\n{}", text(&out));

    let all = instructions();
    let ops = |op: &'static str| {
        all.iter()
            .filter(move |(o, _)| o == op)
            .map(|(_, a)| a.as_str())
    };
    assert!(ops("FROM").count() >= 2, "multi-stage build");
    let exposed: BTreeSet<&str> = ops("EXPOSE").flat_map(str::split_whitespace).collect();
    assert_eq!(exposed, BTreeSet::from(["5044", "9598", "9600"]));
    let user = ops("USER").next_back().expect("USER");
    assert!(
        !user.starts_with("root") && !user.starts_with("0"),
        "runs as {user}"
    );
    assert!(ops("HEALTHCHECK").any(|h| h.contains("/health")));
    assert!(ops("ENTRYPOINT").any(|e| e.contains("/usr/local/bin/weir")));
    assert!(ops("VOLUME").any(|v| v.contains("/var/lib/weir")));
    let (workdir, copies) = image_workdir();
    assert_eq!(workdir, "/etc/weir", "pipelines live under /etc/weir");
    // Every file the build copies is in the context .dockerignore lets through.
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).expect(".dockerignore");
    let allowed: Vec<&str> = ignore.lines().filter_map(|l| l.strip_prefix('!')).collect();
    let build_copies = ops("COPY").filter(|a| !a.contains("--from")).map(|a| {
        let parts: Vec<&str> = a
            .split_whitespace()
            .filter(|p| !p.starts_with("--"))
            .collect();
        parts[..parts.len() - 1]
            .iter()
            .map(|s| (*s).to_owned())
            .collect::<Vec<_>>()
    });
    for sources in build_copies {
        for s in sources {
            assert!(repo().join(&s).exists(), "COPY {s}: not in the repository");
            let s = s.trim_end_matches('/');
            assert!(
                allowed.iter().any(|a| a.trim_end_matches('/') == s),
                "COPY {s}: excluded by .dockerignore"
            );
        }
    }
    // The image's default pipeline validates where the image puts it.
    let view = workdir_view();
    let default = copies
        .iter()
        .find(|(dest, _)| dest == "pipeline.yaml")
        .map(|(_, src)| src.clone())
        .expect("the image ships pipeline.yaml");
    let out = weir()
        .current_dir(view.path())
        .arg("validate")
        .arg(default)
        .output()
        .expect("weir");
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn the_one_shot_scripts_pass_shellcheck() {
    let scripts = ["docker/kibana/setup.sh", "docker/samples/generate.sh"];
    let mut cmd = Command::new("shellcheck");
    cmd.current_dir(repo()).args(["--shell=sh"]).args(scripts);
    let out = run_tool(&mut cmd);
    assert!(out.status.success(), "shellcheck:\n{}", text(&out));
}

#[test]
fn every_pipeline_the_stack_runs_passes_weir_validate() {
    let view = workdir_view();
    let mut run_files = BTreeSet::new();
    for (name, service) in weir_services() {
        let files = service_pipelines(name, service);
        assert!(!files.is_empty(), "{name} runs no pipeline");
        for (c, host) in &files {
            assert!(
                host.is_file(),
                "{name}: {c} is mounted from {}, which is missing",
                host.display()
            );
            run_files.insert(host.canonicalize().expect("canonical path"));
        }
        let mut cmd = weir();
        cmd.current_dir(view.path()).arg("validate");
        for (k, v) in service_env(service) {
            cmd.env(k, v);
        }
        for (_, host) in &files {
            cmd.arg(host);
        }
        let out = cmd.output().expect("run weir");
        let report = text(&out);
        assert!(
            out.status.success(),
            "service {name}: weir validate failed:\n{report}"
        );
    }
    // Every pipeline shipped in docker/pipelines is run by some service.
    let mut shipped = Vec::new();
    collect_yaml(&repo().join("docker/pipelines"), &mut shipped);
    for f in shipped {
        let f = f.canonicalize().expect("canonical path");
        assert!(
            run_files.contains(&f),
            "{} is run by no service",
            f.display()
        );
    }
}

fn collect_yaml(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            collect_yaml(&p, out);
        } else if p.extension().is_some_and(|e| e == "yaml") {
            out.push(p);
        }
    }
}

// ---- fields weir produces ---------------------------------------------------------

/// The default profile's pipelines, parsed.
fn default_pipelines() -> Vec<(PathBuf, Value)> {
    let (name, service) = weir_services()
        .into_iter()
        .find(|(_, s)| profiles(s).is_empty())
        .expect("a weir service in the default profile");
    service_pipelines(name, service)
        .into_iter()
        .map(|(_, host)| {
            let v = read_yaml(&host);
            (host, v)
        })
        .collect()
}

/// Every dotted path to a value in an event; arrays count as the field
/// holding them.
fn leaf_paths(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaf_paths(&p, v, out);
            }
        }
        other => {
            out.entry(prefix.to_owned())
                .or_insert_with(|| other.clone());
        }
    }
}

/// Runs `lines` through a pipeline's filter chain, with `format` as the
/// input's format, in the real weir binary; returns the events it prints.
fn run_through(pipeline: &Value, format: &Value, lines: &[u8]) -> Vec<Value> {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut input = json!({ "type": "stdin" });
    if !format.is_null() {
        input["format"] = format.clone();
    }
    // JSON is YAML: the test pipeline is written as JSON. One worker: the
    // events come out in input order, so the first example of each field
    // (which the dashboard checks look at) is always the same one.
    let test = json!({
        "api": { "listen": format!("127.0.0.1:{port}") },
        "workers": 1,
        "data_dir": dir.path().join("data"),
        "inputs": { "samples": input },
        "filters": pipeline.get("filters").cloned().unwrap_or(json!([])),
        "outputs": { "out": { "type": "stdout" } },
    });
    let path = dir.path().join("fields.yaml");
    std::fs::write(&path, test.to_string()).expect("write pipeline");
    let (status, out, err) = run_to_end(&path, lines);
    assert!(
        status.success(),
        "weir failed on {}:\n{err}",
        path.display()
    );
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The sample logs as the `samples` container writes them: the real
/// generate.sh, run here with the system's sh and awk.
fn samples() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new("sh");
        cmd.arg(repo().join("docker/samples/generate.sh"))
            .arg(repo().join("docker/samples"))
            .arg(dir.path());
        let out = run_tool(&mut cmd);
        assert!(out.status.success(), "generate.sh:\n{}", text(&out));
        dir
    })
    .path()
}

/// For each Elasticsearch index pattern the default pipelines write (the
/// `index` up to its first `%`, plus `*`): every field of every sample event
/// that reached it, with one example value.
fn fields_by_index() -> &'static BTreeMap<String, BTreeMap<String, Value>> {
    static FIELDS: OnceLock<BTreeMap<String, BTreeMap<String, Value>>> = OnceLock::new();
    FIELDS.get_or_init(|| {
        let (_, service) = weir_services()
            .into_iter()
            .find(|(_, s)| profiles(s).is_empty())
            .expect("default weir");
        let env: HashMap<String, String> = service_env(service).into_iter().collect();
        let samples_mount = mounts(service)
            .into_iter()
            .find(|m| m.source == "samples")
            .expect("the weir service mounts the `samples` volume")
            .target;
        let mut by_index: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
        for (file, p) in default_pipelines() {
            let indices: Vec<String> = p["outputs"]
                .as_object()
                .expect("outputs")
                .values()
                .filter(|o| o["type"] == "elasticsearch")
                .map(|o| {
                    let index = o["index"].as_str().expect("an explicit index");
                    format!("{}*", index.split('%').next().unwrap_or_default())
                })
                .collect();
            if indices.is_empty() {
                continue;
            }
            let mut fed = 0;
            for input in p["inputs"].as_object().expect("inputs").values() {
                if input["type"] != "file" {
                    continue;
                }
                for pattern in input["paths"].as_array().expect("paths") {
                    let pattern = interpolate(pattern.as_str().expect("path"), &env);
                    let Some(rel) = pattern.strip_prefix(&format!("{samples_mount}/")) else {
                        continue;
                    };
                    let glob_pattern = samples().join(rel).display().to_string();
                    for f in glob::glob(&glob_pattern).expect("glob").flatten() {
                        let lines = std::fs::read(&f).expect("sample");
                        let events = run_through(&p, &input["format"], &lines);
                        assert!(
                            !events.is_empty(),
                            "{}: no events from {}",
                            file.display(),
                            f.display()
                        );
                        for e in &events {
                            assert!(
                                e.get("tags")
                                    .is_none_or(|t| !t.to_string().contains("_parse_failure"))
                                    || e["message"].as_str().is_some_and(|m| m.contains("sshd")),
                                "{}: a sample did not parse: {e}",
                                file.display()
                            );
                            for index in &indices {
                                leaf_paths("", e, by_index.entry(index.clone()).or_default());
                            }
                        }
                        fed += events.len();
                    }
                }
            }
            assert!(
                fed > 0,
                "{}: writes to Elasticsearch but reads no samples",
                file.display()
            );
        }
        by_index
    })
}

// ---- Kibana ---------------------------------------------------------------------

fn saved_objects() -> Vec<Value> {
    let path = repo().join("docker/kibana/saved-objects.ndjson");
    std::fs::read_to_string(&path)
        .expect("saved objects")
        .lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}:{}: not JSON: {e}", path.display(), i + 1))
        })
        .collect()
}

/// A string attribute that holds JSON.
fn embedded(o: &Value, pointer: &str) -> Value {
    let s = o
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{}: no {pointer}", o["id"]));
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{}: {pointer} is not JSON: {e}", o["id"]))
}

/// Field names a KQL query compares (`field : value`, `field >= 3`).
fn kql_fields(query: &str) -> Vec<String> {
    let re = regex::Regex::new(r#"([A-Za-z@_][A-Za-z0-9@_.]*)\s*(:|>=|<=|>|<)"#).expect("regex");
    // Quoted values cannot name fields.
    let unquoted = regex::Regex::new(r#""[^"]*""#)
        .expect("regex")
        .replace_all(query, "\"\"");
    re.captures_iter(&unquoted)
        .map(|c| c[1].to_owned())
        .collect()
}

/// Mapping type of a dotted field in weir's index template, if it maps it.
fn template_type(field: &str) -> Option<String> {
    static TEMPLATE: OnceLock<Value> = OnceLock::new();
    let t = TEMPLATE.get_or_init(|| {
        let text =
            std::fs::read_to_string(repo().join("grammars/elasticsearch/weir-template.json"))
                .expect("template");
        serde_json::from_str(&text).expect("template JSON")
    });
    let mut node = &t["template"]["mappings"];
    for part in field.split('.') {
        node = &node["properties"][part];
    }
    node["type"].as_str().map(str::to_owned)
}

#[test]
fn kibana_saved_objects_are_consistent_and_use_only_fields_weir_produces() {
    let objects = saved_objects();
    let mut ids = HashMap::new();
    for o in &objects {
        for key in ["id", "type", "attributes", "references"] {
            assert!(o.get(key).is_some(), "object without {key}: {o}");
        }
        let id = o["id"].as_str().expect("id");
        assert!(
            ids.insert(
                (o["type"].as_str().expect("type").to_owned(), id.to_owned()),
                o
            )
            .is_none(),
            "duplicate {id}"
        );
    }
    // References resolve within the file (the import needs nothing else).
    for o in &objects {
        for r in o["references"].as_array().expect("references") {
            let key = (
                r["type"].as_str().expect("type").to_owned(),
                r["id"].as_str().expect("id").to_owned(),
            );
            assert!(
                ids.contains_key(&key),
                "{}: dangling reference {r}",
                o["id"]
            );
        }
    }
    let by_type = |t: &'static str| objects.iter().filter(move |o| o["type"] == t);
    let data_views: HashMap<&str, &str> = by_type("index-pattern")
        .map(|o| {
            (
                o["id"].as_str().expect("id"),
                o["attributes"]["title"].as_str().expect("title"),
            )
        })
        .collect();
    let fields = fields_by_index();
    for (id, title) in &data_views {
        assert!(
            fields.contains_key(*title),
            "data view {id} ({title}) matches no index the stack's pipelines write; they write {:?}",
            fields.keys().collect::<Vec<_>>()
        );
    }
    let mut checked = 0;
    let mut check = |who: &str, view_id: &str, field: &str, agg: Option<&str>| {
        let title = data_views
            .get(view_id)
            .unwrap_or_else(|| panic!("{who}: unknown data view {view_id}"));
        let produced = &fields[*title];
        let example = produced.get(field).unwrap_or_else(|| {
            panic!(
                "{who}: field `{field}` is not among the fields weir produces for {title}: {:?}",
                produced.keys().collect::<Vec<_>>()
            )
        });
        match agg {
            Some("sum" | "avg" | "min" | "max" | "median" | "percentiles") => {
                assert!(
                    example.is_number(),
                    "{who}: `{agg:?}` of `{field}`, which weir writes as {example}"
                )
            }
            Some(_) => {
                assert!(
                    !example.is_object(),
                    "{who}: aggregating `{field}` = {example}"
                );
                assert_ne!(
                    template_type(field).as_deref(),
                    Some("text"),
                    "{who}: `{field}` is a text field: not aggregatable"
                );
            }
            None => {}
        }
        checked += 1;
    };
    for o in &objects {
        let who = format!("{} {}", o["type"], o["id"]);
        let index_ref = |o: &Value| {
            o["references"]
                .as_array()
                .and_then(|r| r.iter().find(|r| r["type"] == "index-pattern"))
                .and_then(|r| r["id"].as_str())
                .map(str::to_owned)
        };
        match o["type"].as_str() {
            Some("index-pattern") => {
                let id = o["id"].as_str().expect("id");
                check(
                    &who,
                    id,
                    o["attributes"]["timeFieldName"]
                        .as_str()
                        .expect("timeFieldName"),
                    None,
                );
            }
            Some("visualization") => {
                let view = index_ref(o).unwrap_or_else(|| panic!("{who}: no data view"));
                let source = embedded(o, "/attributes/kibanaSavedObjectMeta/searchSourceJSON");
                assert_eq!(
                    source["indexRefName"], "kibanaSavedObjectMeta.searchSourceJSON.index",
                    "{who}"
                );
                for f in kql_fields(source["query"]["query"].as_str().unwrap_or_default()) {
                    check(&who, &view, &f, None);
                }
                let vis = embedded(o, "/attributes/visState");
                let aggs = vis["aggs"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{who}: no aggs"));
                assert!(!aggs.is_empty(), "{who}");
                for a in aggs {
                    if let Some(f) = a["params"]["field"].as_str() {
                        check(&who, &view, f, a["type"].as_str());
                    }
                }
            }
            Some("search") => {
                let view = index_ref(o).unwrap_or_else(|| panic!("{who}: no data view"));
                let source = embedded(o, "/attributes/kibanaSavedObjectMeta/searchSourceJSON");
                for f in kql_fields(source["query"]["query"].as_str().unwrap_or_default()) {
                    check(&who, &view, &f, None);
                }
                for c in o["attributes"]["columns"].as_array().expect("columns") {
                    check(&who, &view, c.as_str().expect("column"), None);
                }
                for s in o["attributes"]["sort"].as_array().expect("sort") {
                    check(&who, &view, s[0].as_str().expect("sort field"), None);
                }
            }
            Some("dashboard") => {
                let panels = embedded(o, "/attributes/panelsJSON");
                let refs: BTreeSet<&str> = o["references"]
                    .as_array()
                    .expect("references")
                    .iter()
                    .filter_map(|r| r["name"].as_str())
                    .collect();
                let panels = panels.as_array().expect("panels");
                assert!(panels.len() >= 4, "{who}: {} panels", panels.len());
                for p in panels {
                    let name = p["panelRefName"].as_str().expect("panelRefName");
                    assert!(refs.contains(name), "{who}: panel {name} has no reference");
                }
                embedded(o, "/attributes/optionsJSON");
                embedded(o, "/attributes/kibanaSavedObjectMeta/searchSourceJSON");
            }
            other => panic!("{who}: unexpected type {other:?}"),
        }
    }
    assert!(checked >= 40, "only {checked} field references checked");
    // The three dashboards the stack promises.
    let titles: BTreeSet<&str> = by_type("dashboard")
        .filter_map(|d| d["attributes"]["title"].as_str())
        .collect();
    assert_eq!(
        titles,
        BTreeSet::from([
            "weir: S3 access logs",
            "weir: VPC flow logs",
            "weir: application logs by error code"
        ])
    );
    // Objects come before what refers to them, so a partial import is usable.
    let position: HashMap<&str, usize> = objects
        .iter()
        .enumerate()
        .map(|(i, o)| (o["id"].as_str().expect("id"), i))
        .collect();
    for (i, o) in objects.iter().enumerate() {
        for r in o["references"].as_array().expect("refs") {
            assert!(
                position[r["id"].as_str().expect("id")] < i,
                "{} before {}",
                o["id"],
                r["id"]
            );
        }
    }
}

#[test]
fn kql_field_extraction_reads_comparisons_not_values() {
    assert_eq!(
        kql_fields(r#"aws.vpcflow.action : "REJECT" and x>=3"#),
        ["aws.vpcflow.action", "x"]
    );
    assert_eq!(
        kql_fields(r#"error.code : * or message : "a: b""#),
        ["error.code", "message"]
    );
}

// ---- Prometheus and Grafana ---------------------------------------------------------

#[test]
fn prometheus_config_passes_promtool_and_scrapes_weir() {
    let prom = &services()["prometheus"];
    let config =
        host_path(prom, "/etc/prometheus/prometheus.yml").expect("prometheus.yml is mounted");
    let mut cmd = Command::new("promtool");
    cmd.args(["check", "config"]).arg(&config);
    let out = run_tool(&mut cmd);
    assert!(out.status.success(), "promtool:\n{}", text(&out));
    // Every target is a weir service's prometheus output.
    let v = read_yaml(&config);
    let mut targets = 0;
    for job in v["scrape_configs"].as_array().expect("scrape_configs") {
        for sc in job["static_configs"].as_array().expect("static_configs") {
            for t in sc["targets"].as_array().expect("targets") {
                let t = t.as_str().expect("target");
                let (host, port) = t.rsplit_once(':').expect("host:port");
                let scraped = scraped_metrics(host);
                assert!(
                    scraped.ports.contains(port),
                    "{t}: service {host} has no prometheus output on :{port} (it has {:?})",
                    scraped.ports
                );
                targets += 1;
            }
        }
    }
    assert!(targets >= 1);
}

/// What a weir service exposes to Prometheus: the ports of its prometheus
/// outputs and the metric families its pipelines declare (namespace applied),
/// with their labels.
struct Scraped {
    ports: BTreeSet<String>,
    metrics: BTreeMap<String, BTreeSet<String>>,
}

fn scraped_metrics(service_name: &str) -> Scraped {
    let service = &services()
        .get(service_name)
        .unwrap_or_else(|| panic!("no service {service_name}"));
    let env: HashMap<String, String> = service_env(service).into_iter().collect();
    let mut ports = BTreeSet::new();
    let mut namespaces = BTreeSet::new();
    let mut const_labels = BTreeSet::new();
    let pipelines: Vec<Value> = service_pipelines(service_name, service)
        .into_iter()
        .map(|(_, host)| read_yaml(&host))
        .collect();
    for p in &pipelines {
        for o in p["outputs"].as_object().expect("outputs").values() {
            if o["type"] != "prometheus" {
                continue;
            }
            let listen = interpolate(o["listen"].as_str().unwrap_or("0.0.0.0:9598"), &env);
            ports.insert(listen.rsplit_once(':').expect("ip:port").1.to_owned());
            namespaces.insert(o["namespace"].as_str().map(str::to_owned));
            if let Some(c) = o["const_labels"].as_object() {
                const_labels.extend(c.keys().cloned());
            }
        }
    }
    assert!(
        namespaces.len() <= 1,
        "{service_name}: prometheus outputs with different namespaces"
    );
    let namespace = namespaces.into_iter().next().flatten();
    let mut metrics = BTreeMap::new();
    let mut declare = |name: &str, kind: &str, labels: BTreeSet<String>| {
        let name = match &namespace {
            Some(ns) => format!("{ns}_{name}"),
            None => name.to_owned(),
        };
        let mut labels = labels;
        labels.extend(const_labels.iter().cloned());
        if kind == "histogram" {
            labels.insert("le".into());
            for suffix in ["_bucket", "_sum", "_count"] {
                metrics.insert(format!("{name}{suffix}"), labels.clone());
            }
        } else if kind == "counter" {
            let base = name.strip_suffix("_total").unwrap_or(&name);
            metrics.insert(format!("{base}_total"), labels);
        } else {
            metrics.insert(name, labels);
        }
    };
    for p in &pipelines {
        for f in p["filters"].as_array().unwrap_or(&Vec::new()) {
            if let Some(m) = f.get("metric_filter") {
                let labels = m["dimensions"]
                    .as_object()
                    .map(|d| d.keys().cloned().collect())
                    .unwrap_or_default();
                let kind = m["kind"].as_str().unwrap_or("counter");
                declare(m["name"].as_str().expect("metric name"), kind, labels);
            }
            if let Some(name) = f.get("threshold").and_then(|t| t["metric"].as_str()) {
                declare(name, "counter", BTreeSet::from(["level".to_owned()]));
            }
        }
    }
    Scraped { ports, metrics }
}

/// `${VAR}` / `${VAR:-default}` with the service's environment.
fn interpolate(value: &str, env: &HashMap<String, String>) -> String {
    let re = regex::Regex::new(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}").expect("regex");
    re.replace_all(value, |c: &regex::Captures| {
        env.get(&c[1])
            .cloned()
            .or_else(|| c.get(2).map(|d| d.as_str().to_owned()))
            .unwrap_or_else(|| panic!("`{}` is not set", &c[1]))
    })
    .into_owned()
}

/// weir's own metric families, as exposed, with their labels.
fn internal_metrics() -> BTreeMap<String, BTreeSet<String>> {
    use weir::telemetry::internal::{InternalKind, INTERNAL_METRICS};
    let mut out = BTreeMap::new();
    for m in INTERNAL_METRICS {
        let labels: BTreeSet<String> = m.labels.iter().map(|l| (*l).to_owned()).collect();
        if m.kind == InternalKind::Histogram {
            let mut with_le = labels.clone();
            with_le.insert("le".into());
            for suffix in ["_bucket", "_sum", "_count"] {
                out.insert(format!("{}{suffix}", m.name), with_le.clone());
            }
        } else {
            out.insert(m.name.to_owned(), labels);
        }
    }
    // Recorded by the filters through the metrics registry rather than the
    // facade, so not in the table; same `weir_` family, same exemption from
    // a namespace.
    let by_filters: [(&str, &[&str]); 2] = [
        (
            weir::filters::tag_errors::ERROR_CODES_METRIC,
            &["code", "severity"],
        ),
        (
            weir::filters::metric_filter::SKIPPED_METRIC,
            &["pipeline", "component", "metric", "reason"],
        ),
    ];
    for (name, labels) in by_filters {
        out.insert(
            name.to_owned(),
            labels.iter().map(|l| (*l).to_owned()).collect(),
        );
    }
    out
}

/// Metric names and label names a PromQL expression uses.
#[derive(Debug, Default, PartialEq)]
struct PromqlNames {
    metrics: BTreeSet<String>,
    labels: BTreeSet<String>,
}

const PROMQL_KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
    "atan2",
];

/// Aggregation operators: `sum by (x) (…)` puts the grouping between the
/// operator and its parenthesis.
const PROMQL_AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

fn promql_names(expr: &str) -> PromqlNames {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = PromqlNames::default();
    let ident_start = |c: char| c.is_ascii_alphabetic() || c == '_' || c == ':';
    let ident_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let skip_ws = |mut i: usize| {
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        i
    };
    let read_ident = |mut i: usize| {
        let start = i;
        while i < chars.len() && ident_char(chars[i]) {
            i += 1;
        }
        (chars[start..i].iter().collect::<String>(), i)
    };
    let skip_string = |i: usize| {
        let q = chars[i];
        let mut j = i + 1;
        while j < chars.len() && chars[j] != q {
            if chars[j] == '\\' {
                j += 1;
            }
            j += 1;
        }
        j + 1
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i = skip_string(i);
        } else if c == '[' {
            while i < chars.len() && chars[i] != ']' {
                i += 1;
            }
            i += 1;
        } else if c == '{' {
            // Label matchers: `name op "value"`, comma separated.
            i += 1;
            while i < chars.len() && chars[i] != '}' {
                if ident_start(chars[i]) {
                    let (label, j) = read_ident(i);
                    names.labels.insert(label);
                    i = j;
                } else if chars[i] == '"' || chars[i] == '\'' || chars[i] == '`' {
                    i = skip_string(i);
                } else {
                    i += 1;
                }
            }
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if ident_start(c) {
            let (word, j) = read_ident(i);
            let next = skip_ws(j);
            let lower = word.to_lowercase();
            if matches!(
                lower.as_str(),
                "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
            ) {
                if next < chars.len() && chars[next] == '(' {
                    let end = (next..chars.len())
                        .find(|&k| chars[k] == ')')
                        .unwrap_or(chars.len());
                    let list: String = chars[next + 1..end].iter().collect();
                    names.labels.extend(
                        list.split(',')
                            .map(str::trim)
                            .filter(|l| !l.is_empty())
                            .map(str::to_owned),
                    );
                    i = end + 1;
                    continue;
                }
            } else if (next < chars.len() && chars[next] == '(')
                || PROMQL_AGGREGATIONS.contains(&lower.as_str())
            {
                // A function or an aggregation.
            } else if !PROMQL_KEYWORDS.contains(&lower.as_str()) {
                names.metrics.insert(word);
            }
            i = j;
        } else {
            i += 1;
        }
    }
    names
}

#[test]
fn promql_names_are_read_like_prometheus_reads_them() {
    let n = promql_names(
        r#"histogram_quantile(0.95, sum by (le, pipeline) (rate(weir_x_bucket{pipeline=~"$p", c!="a,b"}[5m]))) / on (job) group_left foo or vector(0)"#,
    );
    assert_eq!(
        n.metrics,
        BTreeSet::from(["weir_x_bucket".to_owned(), "foo".to_owned()])
    );
    assert_eq!(
        n.labels,
        ["le", "pipeline", "c", "job"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    );
    let n = promql_names("sum(increase(app_errors_total[15m])) by (service) > 2e3");
    assert_eq!(n.metrics, BTreeSet::from(["app_errors_total".to_owned()]));
    assert_eq!(n.labels, BTreeSet::from(["service".to_owned()]));
}

/// Grafana's variables replaced by values PromQL accepts.
fn expand_grafana_variables(expr: &str) -> String {
    let re = regex::Regex::new(r"\$\{?(__rate_interval|__interval|__range)\}?").expect("regex");
    let expr = re.replace_all(expr, "1m");
    let var = regex::Regex::new(r"\$\{?[A-Za-z_][A-Za-z0-9_]*(:[a-z]+)?\}?").expect("regex");
    var.replace_all(&expr, ".*").into_owned()
}

fn grafana_dashboards() -> Vec<(PathBuf, Value)> {
    let dir = repo().join("docker/grafana/dashboards");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .expect("dashboards")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).expect("read"))
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", p.display()));
            (p, v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn all_panels(panels: &Value, out: &mut Vec<Value>) {
    for p in panels.as_array().into_iter().flatten() {
        out.push(p.clone());
        all_panels(&p["panels"], out);
    }
}

#[test]
fn grafana_is_provisioned_with_the_prometheus_datasource_and_the_dashboards() {
    let grafana = &services()["grafana"];
    let provisioning =
        host_path(grafana, "/etc/grafana/provisioning").expect("provisioning is mounted");
    let ds = read_yaml(&provisioning.join("datasources/prometheus.yaml"));
    let ds = &ds["datasources"][0];
    assert_eq!(ds["type"], "prometheus");
    let url = ds["url"].as_str().expect("url");
    let port = services()["prometheus"]["ports"][0]["target"]
        .as_i64()
        .expect("prometheus port");
    assert_eq!(
        url,
        format!("http://prometheus:{port}"),
        "the datasource points at the prometheus service"
    );
    let uid = ds["uid"].as_str().expect("the datasource has a fixed uid");

    let providers = read_yaml(&provisioning.join("dashboards/weir.yaml"));
    let path = providers["providers"][0]["options"]["path"]
        .as_str()
        .expect("provider path");
    let mounted = host_path(grafana, path).expect("the provider's path is mounted");
    assert_eq!(
        mounted.canonicalize().expect("dir"),
        repo()
            .join("docker/grafana/dashboards")
            .canonicalize()
            .expect("dir")
    );
    let home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
        .as_str()
        .expect("home");
    assert!(
        host_path(grafana, home).is_some_and(|p| p.is_file()),
        "home dashboard {home}"
    );

    let dashboards = grafana_dashboards();
    assert_eq!(dashboards.len(), 2, "{dashboards:?}");
    let mut uids = BTreeSet::new();
    for (file, d) in &dashboards {
        assert!(
            uids.insert(d["uid"].as_str().expect("uid").to_owned()),
            "{}: duplicate uid",
            file.display()
        );
        let mut panels = Vec::new();
        all_panels(&d["panels"], &mut panels);
        for p in panels.iter().filter(|p| p["type"] != "row") {
            assert_eq!(
                p["datasource"]["uid"],
                uid,
                "{}: panel {}",
                file.display(),
                p["title"]
            );
            for t in p["targets"].as_array().expect("targets") {
                assert_eq!(
                    t["datasource"]["uid"],
                    uid,
                    "{}: {}",
                    file.display(),
                    p["title"]
                );
            }
        }
    }
}

#[test]
fn grafana_queries_are_valid_promql_over_metrics_weir_exports() {
    // What Prometheus scrapes: the weir services named in its targets.
    let prom = &services()["prometheus"];
    let config = read_yaml(&host_path(prom, "/etc/prometheus/prometheus.yml").expect("mounted"));
    let mut known = internal_metrics();
    for job in config["scrape_configs"].as_array().expect("jobs") {
        for sc in job["static_configs"].as_array().expect("static_configs") {
            for t in sc["targets"].as_array().expect("targets") {
                let host = t
                    .as_str()
                    .expect("target")
                    .rsplit_once(':')
                    .expect("host:port")
                    .0;
                for (name, labels) in scraped_metrics(host).metrics {
                    known.entry(name).or_default().extend(labels);
                }
            }
        }
    }
    let target_labels = ["job", "instance"];

    let mut rules = String::from("groups:\n  - name: grafana\n    rules:\n");
    let mut n = 0;
    let mut used = BTreeSet::new();
    let mut amber_red = 0;
    for (file, d) in grafana_dashboards() {
        let mut panels = Vec::new();
        all_panels(&d["panels"], &mut panels);
        let mut exprs: Vec<(String, String)> = Vec::new();
        for p in panels.iter().filter(|p| p["type"] != "row") {
            let title = p["title"].as_str().unwrap_or_default().to_owned();
            let targets = p["targets"].as_array().expect("targets");
            assert!(
                !targets.is_empty(),
                "{}: panel {title} has no query",
                file.display()
            );
            for t in targets {
                exprs.push((title.clone(), t["expr"].as_str().expect("expr").to_owned()));
            }
            let steps = p["fieldConfig"]["defaults"]["thresholds"]["steps"].to_string();
            if steps.contains("#FFB000") && steps.contains("\"red\"") {
                amber_red += 1;
            }
        }
        for v in d["templating"]["list"].as_array().into_iter().flatten() {
            let q = v["query"]["query"]
                .as_str()
                .or(v["query"].as_str())
                .expect("variable query");
            let inner = q
                .strip_prefix("label_values(")
                .and_then(|r| r.strip_suffix(')'))
                .unwrap_or_else(|| panic!("variable query {q}"));
            let (metric, label) = inner.rsplit_once(',').expect("label_values(metric, label)");
            exprs.push((
                format!("variable {}", v["name"]),
                format!("count by ({}) ({})", label.trim(), metric.trim()),
            ));
        }
        for (title, expr) in exprs {
            let expr = expand_grafana_variables(&expr);
            let names = promql_names(&expr);
            assert!(
                !names.metrics.is_empty(),
                "{}: {title}: no metric in {expr}",
                file.display()
            );
            let mut labels_here: BTreeSet<&str> = target_labels.into_iter().collect();
            for m in &names.metrics {
                let labels = known.get(m).unwrap_or_else(|| {
                    panic!("{}: {title}: `{m}` is neither a weir_ metric nor one the stack's pipelines declare", file.display())
                });
                labels_here.extend(labels.iter().map(String::as_str));
                used.insert(m.clone());
            }
            for l in &names.labels {
                assert!(
                    labels_here.contains(l.as_str()),
                    "{}: {title}: label `{l}` is on none of {:?}",
                    file.display(),
                    names.metrics
                );
            }
            n += 1;
            rules.push_str(&format!(
                "      - record: grafana:query_{n}\n        expr: {}\n",
                serde_json::to_string(&expr).expect("json")
            ));
        }
    }
    // Prometheus' own parser reads every query.
    let file = tempfile::Builder::new()
        .suffix(".yml")
        .tempfile()
        .expect("tempfile");
    std::fs::write(file.path(), &rules).expect("write rules");
    let mut cmd = Command::new("promtool");
    cmd.args(["check", "rules"]).arg(file.path());
    let out = run_tool(&mut cmd);
    assert!(
        out.status.success(),
        "promtool check rules:\n{}\n{rules}",
        text(&out)
    );
    assert!(n >= 30, "only {n} queries");
    assert!(
        amber_red >= 10,
        "only {amber_red} panels with amber/red thresholds"
    );
    // Both kinds of metrics are on the dashboards.
    assert!(used.iter().any(|m| m.starts_with("weir_")));
    assert!(used.iter().any(|m| !m.starts_with("weir_")));
}

// ---- the default stack, run for real ------------------------------------------------

/// The default weir service's pipelines run as the container runs them —
/// same files, same working directory layout, the samples the `samples`
/// container writes — against a real OpenSearch-compatible server in place of
/// Elasticsearch, with the addresses moved to free loopback ports. Every
/// sample reaches its index, a live TCP event too, and every metric the
/// stack's pipelines declare is on the scrape endpoint Prometheus reads, so
/// no dashboard panel stays empty for want of data.
#[test]
fn the_default_stack_indexes_the_samples_and_exposes_its_metrics() {
    use std::io::Write as _;
    use std::time::{Duration, Instant};

    let es = osmem::Osmem::start();
    let (name, service) = weir_services()
        .into_iter()
        .find(|(_, s)| profiles(s).is_empty())
        .expect("default weir");
    let view = workdir_view();
    let data = tempfile::tempdir().expect("tempdir");
    let (api, scrape, tcp) = (free_port(), free_port(), free_port());
    let log = data.path().join("weir.log");
    let mut cmd = weir();
    cmd.current_dir(view.path()).arg("run");
    for (_, host) in service_pipelines(name, service) {
        cmd.arg(host);
    }
    for (k, v) in service_env(service) {
        cmd.env(k, v);
    }
    cmd.env("ELASTICSEARCH_URL", &es.url)
        .env("WEIR_API_LISTEN", format!("127.0.0.1:{api}"))
        .env("WEIR_PROMETHEUS_LISTEN", format!("127.0.0.1:{scrape}"))
        .env("WEIR_APP_ADDRESS", format!("127.0.0.1:{tcp}"))
        .env("WEIR_DATA_DIR", data.path().join("data"))
        .env("WEIR_SAMPLES_DIR", samples())
        .env("WEIR_LOGS_DIR", data.path().join("no-local-logs"))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"));
    /// Stops weir however the test ends.
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Kill(cmd.spawn().expect("spawn weir"));
    wait_for_port(tcp);
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", tcp)).expect("connect");
    conn.write_all(b"{\"log\":{\"level\":\"error\"},\"service\":{\"name\":\"live\"},\"message\":\"disk full\"}\n")
        .expect("send");
    drop(conn);

    // Sample lines per index (a VPC flow file's header line is no record).
    let lines = |rel: &str| {
        let text = std::fs::read_to_string(samples().join(rel)).expect("sample");
        text.lines()
            .filter(|l| !l.is_empty() && !l.starts_with("version "))
            .count() as u64
    };
    let expected = [
        ("weir-app-*", lines("app/sample.ndjson") + 1),
        ("weir-s3-access-*", lines("s3-access/sample.log")),
        ("weir-vpc-flow-*", lines("vpc-flow/sample.log")),
    ];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let counts: Vec<u64> = expected.iter().map(|(i, _)| es.count(i)).collect();
        if counts.iter().zip(&expected).all(|(c, (_, e))| c == e) {
            break;
        }
        if let Ok(Some(status)) = child.0.try_wait() {
            let err = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("weir exited ({status}) with {counts:?} of {expected:?}:\n{err}");
        }
        assert!(
            Instant::now() < deadline,
            "indexed {counts:?}, expected {expected:?}; weir's log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, health) = osmem::http(api, "GET", "/health", b"");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&health));
    let (status, body) = osmem::http(scrape, "GET", "/metrics", b"");
    assert_eq!(status, 200);
    let exposition = String::from_utf8_lossy(&body);
    let exposed: BTreeSet<&str> = exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let declared = scraped_metrics(name).metrics;
    for metric in declared.keys() {
        assert!(
            exposed.contains(metric.as_str()),
            "{metric} is not on the scrape endpoint:\n{exposition}"
        );
    }
    for internal in [
        "weir_component_received_events_total",
        "weir_component_sent_events_total",
        "weir_error_codes_total",
    ] {
        assert!(
            exposed.contains(internal),
            "{internal} missing:\n{exposition}"
        );
    }

    // A restart (the container's `restart: unless-stopped`, or `compose
    // restart weir`) reads the files again: their documents come back with
    // the same ids, as 409 conflicts, and the indices stay as they were.
    drop(child);
    let child = Kill(cmd.spawn().expect("spawn weir again"));
    let samples_total: u64 = expected.iter().map(|(_, n)| n).sum::<u64>() - 1;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, body) = osmem::http(scrape, "GET", "/metrics", b"");
        let conflicts: f64 = String::from_utf8_lossy(&body)
            .lines()
            .filter(|l| {
                l.starts_with("weir_elasticsearch_documents_total{")
                    && l.contains("result=\"conflict\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        if conflicts as u64 >= samples_total {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{conflicts} of {samples_total} samples came back as conflicts; weir's log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for (index, n) in expected {
        assert_eq!(es.count(index), n, "{index} after a restart");
    }
    drop(child);
}
