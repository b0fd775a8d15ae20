//! The `weir` command: run, validate and test pipelines.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use weir::config::{load_file, ConfigErrors, PipelineSpec};
use weir::telemetry::api::{self, Health, PipelineState};

/// mimalloc: glibc's malloc spent most of a busy pipeline's time in arena
/// locks and cross-thread frees (events are built on input tasks and freed
/// on output threads); see README, Performance.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "weir", version, about = "Log ingestion and processing pipeline", long_about = None)]
struct Cli {
    /// Log line format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    /// Log level (or a tracing filter such as `weir=debug`); `WEIR_LOG` also works.
    #[arg(long, global = true)]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run one or more pipelines in this process.
    Run {
        /// Pipeline files (YAML).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Check pipeline files without running them; prints every error.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run the example events of `NAME.test.yaml` through the filters of
    /// `NAME.yaml` and check the fields they come out with.
    Test {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn init_logging(format: LogFormat, level: Option<&str>) {
    let filter = level
        .map(str::to_owned)
        .or_else(|| std::env::var("WEIR_LOG").ok())
        .unwrap_or_else(|| "info".to_owned());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// Loads every file, collecting all errors.
fn load_all(files: &[PathBuf]) -> Result<Vec<PipelineSpec>, ConfigErrors> {
    let mut specs = Vec::new();
    let mut errors = ConfigErrors::default();
    for f in files {
        match load_file(f) {
            Ok(s) => specs.push(s),
            Err(e) => errors.0.extend(e.0),
        }
    }
    let mut names = std::collections::HashMap::new();
    for s in &specs {
        if let Some(other) = names.insert(s.name.clone(), s.file.clone()) {
            errors.0.push(weir::config::ConfigError::new(
                &s.file,
                None,
                format!("pipeline name `{}` is also used by {other}: pipelines are named after their file name", s.name),
            ));
        }
    }
    if let Some(first) = specs.first() {
        let first_settings = first.settings.clone();
        for s in &specs[1..] {
            let conflict = |a: bool| a;
            let st = &s.settings;
            if conflict(
                st.data_dir.is_some()
                    && first_settings.data_dir.is_some()
                    && st.data_dir != first_settings.data_dir,
            ) || conflict(
                st.api_listen.is_some()
                    && first_settings.api_listen.is_some()
                    && st.api_listen != first_settings.api_listen,
            ) {
                errors.0.push(weir::config::ConfigError::new(
                    &s.file,
                    None,
                    format!(
                        "`data_dir`/`api` differ from {}: they are process-wide, set them once",
                        first.file
                    ),
                ));
            }
        }
    }
    if errors.0.is_empty() {
        errors
            .0
            .extend(weir::config::pipeline::check_claims(&specs));
    }
    if errors.0.is_empty() {
        Ok(specs)
    } else {
        Err(errors)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format, cli.log_level.as_deref());
    // Before any pipeline is loaded: components register their counters while
    // they are built from the config, and a counter registered before the
    // recorder is installed records nowhere.
    weir::telemetry::install();
    match cli.command {
        Command::Validate { files } => match load_all(&files) {
            Ok(specs) => {
                for s in &specs {
                    println!(
                        "{}: ok ({} inputs, {} filters, {} outputs)",
                        s.file,
                        s.inputs.len(),
                        s.chain.len(),
                        s.outputs.len()
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                eprintln!("{} error(s)", e.0.len());
                ExitCode::from(2)
            }
        },
        Command::Test { files } => test_pipelines(&files),
        Command::Run { files } => {
            let specs = match load_all(&files) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let code = runtime.block_on(run(specs));
            // Everything is flushed by now. A `stdin` input stopped by a signal
            // leaves tokio's blocking read of the terminal behind, which would
            // hold a plain drop of the runtime forever.
            runtime.shutdown_timeout(Duration::from_millis(500));
            code
        }
    }
}

fn test_pipelines(files: &[PathBuf]) -> ExitCode {
    let (mut passed, mut failed) = (0usize, 0usize);
    for f in files {
        let spec = match load_file(f) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        };
        let tests = weir::config::tests::test_file_for(f);
        if !tests.exists() {
            eprintln!(
                "{}: no test file ({} not found)",
                f.display(),
                tests.display()
            );
            return ExitCode::from(2);
        }
        match weir::config::tests::run_tests(&spec, &tests) {
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
            Ok(outcomes) => {
                for o in outcomes {
                    if o.failures.is_empty() {
                        passed += 1;
                        println!("ok    {}: {}", tests.display(), o.name);
                    } else {
                        failed += 1;
                        println!("FAIL  {}: {}", tests.display(), o.name);
                        for failure in o.failures {
                            println!("        {failure}");
                        }
                    }
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Makes weir's registry the global metrics recorder and returns the
/// `/metrics` renderer (Prometheus text, or OpenMetrics when asked for).
fn metrics_renderer() -> api::Renderer {
    let registry = weir::telemetry::install();
    Arc::new(move |accept: Option<&str>| {
        let format = weir::telemetry::negotiate(accept);
        (format.content_type().to_owned(), registry.render(format))
    })
}

async fn run(specs: Vec<PipelineSpec>) -> ExitCode {
    let render = metrics_renderer();
    let shutdown = CancellationToken::new();
    let api_shutdown = CancellationToken::new();
    let settings = specs
        .iter()
        .map(|s| s.settings.clone())
        .reduce(|a, b| weir::config::Settings {
            data_dir: a.data_dir.or(b.data_dir),
            api_listen: a.api_listen.or(b.api_listen),
            shutdown_timeout: a.shutdown_timeout.or(b.shutdown_timeout),
        });
    let listen = settings
        .as_ref()
        .and_then(|s| s.api_listen)
        .unwrap_or_else(|| {
            weir::config::pipeline::DEFAULT_API_LISTEN
                .parse()
                .expect("valid default address")
        });
    let grace = settings
        .as_ref()
        .and_then(|s| s.shutdown_timeout)
        .unwrap_or(weir::config::pipeline::DEFAULT_SHUTDOWN_TIMEOUT);
    let health = Arc::new(Health::default());
    let api_task = match api::serve(listen, health.clone(), render, api_shutdown.clone()).await {
        Ok((_, task)) => task,
        Err(e) => {
            error!("{e:#}");
            return ExitCode::FAILURE;
        }
    };

    let mut pipelines = tokio::task::JoinSet::new();
    for spec in specs {
        let name = spec.name.to_string();
        health.set(&name, PipelineState::Running);
        let token = shutdown.clone();
        pipelines.spawn(async move { (name, weir::topology::run_pipeline(spec, token).await) });
    }

    let signalled = CancellationToken::new();
    let signals = tokio::spawn(wait_for_signal(signalled.clone()));
    let mut failed = false;
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        let next = tokio::select! {
            joined = pipelines.join_next() => joined,
            _ = signalled.cancelled(), if deadline.is_none() => {
                info!(grace_secs = grace.as_secs_f64(), "shutting down: inputs stop, in-flight events drain");
                shutdown.cancel();
                deadline = Some(tokio::time::Instant::now() + grace);
                continue;
            }
            _ = sleep_until(deadline) => {
                error!(grace_secs = grace.as_secs_f64(),
                    "shutdown_timeout passed with events still in flight; exiting without them");
                return ExitCode::from(3);
            }
        };
        match next {
            None => break,
            Some(Ok((name, Ok(())))) => health.set(&name, PipelineState::Stopped),
            Some(Ok((name, Err(e)))) => {
                health.set(&name, PipelineState::Failed);
                error!(pipeline = %name, "pipeline failed: {e:#}");
                failed = true;
                if deadline.is_none() {
                    shutdown.cancel();
                    deadline = Some(tokio::time::Instant::now() + grace);
                }
            }
            Some(Err(e)) => {
                error!("a pipeline task panicked: {e}");
                failed = true;
            }
        }
    }
    signals.abort();
    api_shutdown.cancel();
    let _ = api_task.await;
    if failed {
        ExitCode::FAILURE
    } else {
        info!("all pipelines finished");
        ExitCode::SUCCESS
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Cancels `signalled` on SIGINT or SIGTERM. A second signal exits at once.
async fn wait_for_signal(signalled: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            warn!("cannot install signal handlers");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        signalled.cancel();
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
            eprintln!("second signal: exiting immediately");
            std::process::exit(130);
        });
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        signalled.cancel();
    }
}
