//! `threshold`: amber/red levels for numbers that arrive as logs.
//!
//! CPU, memory, disk and latency readings often reach weir as log lines rather
//! than as metrics. This filter grades such a reading the way a CloudWatch
//! alarm with two thresholds would, and writes the grade into the event, so
//! routing (`when: '{ $.threshold.level = "red" }'`), Kibana and alerting all
//! see the same level:
//!
//! | `direction` | `red` when | `amber` when | else |
//! |---|---|---|---|
//! | `above` (default) | value ≥ `red` | value ≥ `amber` | `ok` |
//! | `below` | value ≤ `red` | value ≤ `amber` | `ok` |
//!
//! Limits are inclusive, like CloudWatch's `GreaterThanOrEqualToThreshold`
//! (and `LessThanOrEqualToThreshold` for `below`, e.g. free disk space).
//!
//! A reading that is missing or not a number (a string that does not parse,
//! NaN, a boolean, an object) gets `level: unknown` — CloudWatch's
//! INSUFFICIENT_DATA — rather than being left untouched: an event that was
//! meant to carry a reading but does not is worth seeing, and a route on
//! `ok` must not take it for healthy. Use `when:` to grade only the events
//! that are readings.
//!
//! With `metric: NAME`, each graded event also adds one to the counter
//! `NAME_total{level="ok|amber|red|unknown"}` (four series, all at 0 from the
//! start): `increase(cpu_threshold_total{level="red"}[5m]) > 0` alerts on the
//! same grading. A counter per level rather than a gauge of the value: the
//! value usually comes from many hosts, and one unlabelled gauge would show
//! whichever reported last.

use std::sync::LazyLock;

use serde::Deserialize;

use super::metric_filter::prometheus_name;
use super::{BuildContext, Filter, FilterContext};
use crate::config::{from_node, DeError, Node};
use crate::event::{Event, Path, Value};
use crate::telemetry::Registry;

/// Options of `threshold`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdConfig {
    /// The numeric field to grade (a number, or a string holding one).
    pub field: Path,
    #[serde(default = "default_amber")]
    pub amber: f64,
    #[serde(default = "default_red")]
    pub red: f64,
    /// Where the grade goes: `<target>.level`. Default `threshold`.
    #[serde(default)]
    pub target: Option<Path>,
    #[serde(default)]
    pub direction: Direction,
    /// Also count graded events per level in `<metric>_total{level}`.
    #[serde(default)]
    pub metric: Option<String>,
    /// HELP text of the metric.
    #[serde(default)]
    pub help: Option<String>,
}

fn default_amber() -> f64 {
    60.0
}

fn default_red() -> f64 {
    80.0
}

/// Which side of the limits is bad.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    Above,
    Below,
}

/// A grade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok = 0,
    Amber = 1,
    Red = 2,
    Unknown = 3,
}

impl Level {
    const ALL: [Level; 4] = [Level::Ok, Level::Amber, Level::Red, Level::Unknown];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Amber => "amber",
            Level::Red => "red",
            Level::Unknown => "unknown",
        }
    }

    fn value(self) -> Value {
        static VALUES: LazyLock<[Value; 4]> = LazyLock::new(|| {
            Level::ALL.map(|l| Value::Str(bytes::Bytes::from_static(l.as_str().as_bytes())))
        });
        VALUES[self as usize].clone()
    }
}

/// The compiled filter.
#[derive(Debug)]
pub struct Threshold {
    field: Path,
    amber: f64,
    red: f64,
    direction: Direction,
    level_path: Path,
    counters: Option<[metrics::Counter; 4]>,
}

impl Threshold {
    pub fn build(
        options: &Node,
        cx: &BuildContext,
        registry: &Registry,
    ) -> Result<Threshold, DeError> {
        let config: ThresholdConfig = from_node(options)?;
        let at = |key: &str| options.get(key).map_or(options.loc, |n| n.loc);
        for (key, v) in [("amber", config.amber), ("red", config.red)] {
            if !v.is_finite() {
                return Err(DeError {
                    message: format!("`{key}` must be a finite number"),
                    loc: Some(at(key)),
                });
            }
        }
        let ordered = match config.direction {
            Direction::Above => config.amber <= config.red,
            Direction::Below => config.amber >= config.red,
        };
        if !ordered {
            let (word, fix) = match config.direction {
                Direction::Above => ("above", "amber ≤ red"),
                Direction::Below => ("below", "amber ≥ red"),
            };
            return Err(DeError {
                message: format!(
                    "with `direction: {word}` the limits need {fix}; got amber {} and red {}",
                    config.amber, config.red
                ),
                loc: Some(at("amber")),
            });
        }
        let target = config
            .target
            .as_ref()
            .map_or("threshold", |t| t.as_str())
            .to_owned();
        let level_path = Path::parse(&format!("{target}.level")).map_err(|e| DeError {
            message: format!("`target`: {e}"),
            loc: Some(at("target")),
        })?;
        let counters = config.metric.as_deref().map(|metric| {
            let name = prometheus_name(metric, true, None);
            if name != metric {
                tracing::warn!(
                    pipeline = %cx.pipeline,
                    component = %cx.component,
                    "threshold metric `{metric}` is exposed as `{name}` (Prometheus naming: \
                     lowercase `[a-z0-9_]`, counters end in `_total`)"
                );
            }
            let help = config.help.clone().unwrap_or_else(|| {
                format!(
                    "Readings of `{}` graded by the threshold filter (amber {}, red {}, {:?}), by level.",
                    config.field, config.amber, config.red, config.direction
                )
            });
            Level::ALL.map(|level| registry.counter(&name, &[("level", level.as_str())], &help))
        });
        Ok(Threshold {
            field: config.field,
            amber: config.amber,
            red: config.red,
            direction: config.direction,
            level_path,
            counters,
        })
    }

    /// The grade of a reading.
    pub fn level(&self, reading: Option<f64>) -> Level {
        let Some(v) = reading.filter(|v| !v.is_nan()) else {
            return Level::Unknown;
        };
        let (red, amber) = match self.direction {
            Direction::Above => (v >= self.red, v >= self.amber),
            Direction::Below => (v <= self.red, v <= self.amber),
        };
        if red {
            Level::Red
        } else if amber {
            Level::Amber
        } else {
            Level::Ok
        }
    }

    /// Grades one event and writes the level.
    pub fn grade(&self, event: &mut Event) -> Level {
        let reading = event.with_value(&self.field, |v| v.and_then(Value::as_f64));
        let level = self.level(reading);
        event.insert(&self.level_path, level.value());
        if let Some(counters) = &self.counters {
            counters[level as usize].increment(1);
        }
        level
    }
}

impl Filter for Threshold {
    fn process(&self, events: &mut Vec<Event>, _cx: &mut FilterContext) {
        for event in events.iter_mut() {
            self.grade(event);
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

    fn build_in(registry: &Registry, yaml: &str) -> Result<Threshold, DeError> {
        let node = crate::config::yaml::parse(yaml).expect("test YAML");
        let cx = BuildContext {
            pipeline: "p".into(),
            component: "threshold#0".into(),
        };
        Threshold::build(&node, &cx, registry)
    }

    fn grade_json(t: &Threshold, json: &str) -> (Level, Option<String>) {
        let mut e = Event::from_text(json);
        if let Ok(Value::Object(fields)) = crate::parsers::json::parse_value(&e.message) {
            e.fields = fields;
        }
        let level = t.grade(&mut e);
        (level, e.get(&t.level_path).map(|v| v.to_text()))
    }

    #[test]
    fn defaults_are_amber_60_red_80_inclusive() {
        let t = build_in(registry(), "field: cpu\n").unwrap();
        let l = |v: f64| t.level(Some(v));
        assert_eq!(l(0.0), Level::Ok);
        assert_eq!(l(59.999), Level::Ok);
        assert_eq!(l(60.0), Level::Amber);
        assert_eq!(l(79.9), Level::Amber);
        assert_eq!(l(80.0), Level::Red);
        assert_eq!(l(1e9), Level::Red);
        assert_eq!(l(f64::NAN), Level::Unknown);
        assert_eq!(t.level(None), Level::Unknown);
    }

    #[test]
    fn below_grades_low_values() {
        let t = build_in(
            registry(),
            "field: disk.free_pct\ndirection: below\namber: 20\nred: 10\n",
        )
        .unwrap();
        let l = |v: f64| t.level(Some(v));
        assert_eq!(l(50.0), Level::Ok);
        assert_eq!(l(20.01), Level::Ok);
        assert_eq!(l(20.0), Level::Amber);
        assert_eq!(l(10.5), Level::Amber);
        assert_eq!(l(10.0), Level::Red);
        assert_eq!(l(-3.0), Level::Red);
    }

    #[test]
    fn writes_the_level_into_the_event() {
        let t = build_in(registry(), "field: system.cpu.pct\n").unwrap();
        assert_eq!(
            grade_json(&t, r#"{"system":{"cpu":{"pct":85}}}"#),
            (Level::Red, Some("red".into()))
        );
        assert_eq!(
            grade_json(&t, r#"{"system":{"cpu":{"pct":"61.5"}}}"#),
            (Level::Amber, Some("amber".into())),
            "numbers in strings count"
        );
        assert_eq!(
            grade_json(&t, r#"{"system":{"cpu":{"pct":"high"}}}"#),
            (Level::Unknown, Some("unknown".into()))
        );
        assert_eq!(
            grade_json(&t, r#"{"other":1}"#),
            (Level::Unknown, Some("unknown".into()))
        );
        let custom = build_in(
            registry(),
            "field: ms\ntarget: latency.grade\namber: 200\nred: 500\n",
        )
        .unwrap();
        let mut e = Event::from_text("x");
        e.insert(&Path::parse("ms").unwrap(), Value::Int(200));
        custom.grade(&mut e);
        assert_eq!(
            e.get(&Path::parse("latency.grade.level").unwrap()),
            Some(Value::from("amber"))
        );
    }

    #[test]
    fn counts_per_level() {
        let r = registry();
        let t = build_in(r, "field: cpu\nmetric: CPU Threshold\n").unwrap();
        for json in [
            r#"{"cpu":10}"#,
            r#"{"cpu":70}"#,
            r#"{"cpu":90}"#,
            r#"{"cpu":95}"#,
            "{}",
        ] {
            grade_json(&t, json);
        }
        let text = r.render(Format::Text);
        for line in [
            r#"cpu_threshold_total{level="amber"} 1"#,
            r#"cpu_threshold_total{level="ok"} 1"#,
            r#"cpu_threshold_total{level="red"} 2"#,
            r#"cpu_threshold_total{level="unknown"} 1"#,
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }

    #[test]
    fn limits_are_checked() {
        let r = registry();
        let e = build_in(r, "field: cpu\namber: 90\nred: 80\n").unwrap_err();
        assert!(e.message.contains("amber ≤ red"), "{}", e.message);
        assert_eq!(e.loc.map(|l| l.line), Some(2));
        let e = build_in(r, "field: cpu\ndirection: below\n").unwrap_err();
        assert!(e.message.contains("amber ≥ red"), "{}", e.message);
        let e = build_in(r, "field: cpu\ndirection: sideways\n").unwrap_err();
        assert!(
            e.message.contains("unknown variant `sideways`"),
            "{}",
            e.message
        );
        let e = build_in(r, "amber: 1\n").unwrap_err();
        assert!(e.message.contains("missing field `field`"), "{}", e.message);
        let e = build_in(r, "field: cpu\nlimit: 3\n").unwrap_err();
        assert!(e.message.contains("unknown field `limit`"), "{}", e.message);
        // Equal limits: no amber band.
        let t = build_in(r, "field: cpu\namber: 80\nred: 80\n").unwrap();
        assert_eq!(t.level(Some(80.0)), Level::Red);
        assert_eq!(t.level(Some(79.0)), Level::Ok);
    }
}
