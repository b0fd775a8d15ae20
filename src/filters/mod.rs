//! Filters: the ordered chain a worker runs on each batch.
//!
//! A filter works on a whole batch ([`Filter::process`]) so it may drop or add
//! events; most filters act on one event at a time and implement
//! [`EventFilter`], which [`PerEvent`] adapts. Filters are built when the config
//! is loaded (a bad grok pattern fails `weir validate`), are shared by all
//! workers, and never block: CPU work only.
//! Filters are registered in [`registry`].

pub mod drop;
pub mod parse;
pub mod registry;
pub mod remove;
pub mod rename;
pub mod set;

use std::fmt::Debug;
use std::sync::Arc;

use crate::event::Event;

/// What a filter needs to know about where it runs, given at build time.
#[derive(Debug, Clone)]
pub struct BuildContext {
    pub pipeline: Arc<str>,
    /// The filter's position-derived name, e.g. `parse#1`, used in metrics.
    pub component: Arc<str>,
}

/// Events removed from the flow because a filter could not handle them and its
/// `on_error` said `dead_letter`; the worker hands them to the pipeline's
/// dead-letter queue.
#[derive(Debug, Default)]
pub struct FilterContext {
    pub dead_letters: Vec<DeadLetter>,
}

/// An event that could not be processed, and why.
#[derive(Debug)]
pub struct DeadLetter {
    pub event: Event,
    pub component: Arc<str>,
    pub reason: String,
}

/// A step of the filter chain.
pub trait Filter: Send + Sync + Debug {
    /// Processes the batch in place.
    fn process(&self, events: &mut Vec<Event>, cx: &mut FilterContext);
}

/// What happens to an event after an [`EventFilter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    Drop,
}

/// A filter that looks at one event at a time.
pub trait EventFilter: Send + Sync + Debug {
    fn apply(&self, event: &mut Event) -> Verdict;
}

/// Runs an [`EventFilter`] over a batch, counting the events it drops.
#[derive(Debug)]
pub struct PerEvent<F> {
    inner: F,
    discarded: metrics::Counter,
}

impl<F: EventFilter> PerEvent<F> {
    pub fn new(inner: F, cx: &BuildContext) -> Self {
        PerEvent {
            inner,
            discarded: metrics::counter!(
                "weir_component_discarded_events_total",
                "pipeline" => cx.pipeline.to_string(),
                "component" => cx.component.to_string(),
                "kind" => "filter",
            ),
        }
    }
}

impl<F: EventFilter> Filter for PerEvent<F> {
    fn process(&self, events: &mut Vec<Event>, _cx: &mut FilterContext) {
        let before = events.len();
        events.retain_mut(|e| self.inner.apply(e) == Verdict::Keep);
        let dropped = before - events.len();
        if dropped > 0 {
            self.discarded.increment(dropped as u64);
        }
    }
}

/// The filter chain of one pipeline, in order.
#[derive(Debug, Default, Clone)]
pub struct Chain {
    filters: Vec<Arc<dyn Filter>>,
}

impl Chain {
    pub fn new(filters: Vec<Arc<dyn Filter>>) -> Self {
        Chain { filters }
    }

    pub fn len(&self) -> usize {
        self.filters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }

    /// Runs every filter on the batch; stops early once no event is left.
    pub fn run(&self, events: &mut Vec<Event>, cx: &mut FilterContext) {
        for f in &self.filters {
            if events.is_empty() {
                return;
            }
            f.process(events, cx);
        }
    }
}

/// A test on an event: `when:` guards on filters and outputs.
pub trait Condition: Send + Sync + Debug {
    fn matches(&self, event: &Event) -> bool;
}

/// Applies a filter only to the events its `when:` condition matches; the
/// others pass through untouched, and the batch keeps its order.
#[derive(Debug)]
pub struct Guarded {
    when: Arc<dyn Condition>,
    inner: Arc<dyn Filter>,
}

impl Guarded {
    pub fn new(when: Arc<dyn Condition>, inner: Arc<dyn Filter>) -> Self {
        Guarded { when, inner }
    }
}

impl Filter for Guarded {
    fn process(&self, events: &mut Vec<Event>, cx: &mut FilterContext) {
        if !events.iter().any(|e| self.when.matches(e)) {
            return;
        }
        let mut out = Vec::with_capacity(events.len());
        let mut one = Vec::with_capacity(1);
        for event in events.drain(..) {
            if self.when.matches(&event) {
                one.push(event);
                self.inner.process(&mut one, cx);
                out.append(&mut one);
            } else {
                out.push(event);
            }
        }
        *events = out;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct StartsWith(&'static str);
    impl Condition for StartsWith {
        fn matches(&self, event: &Event) -> bool {
            event.message.starts_with(self.0.as_bytes())
        }
    }

    #[derive(Debug)]
    struct DropAll;
    impl EventFilter for DropAll {
        fn apply(&self, _: &mut Event) -> Verdict {
            Verdict::Drop
        }
    }

    #[test]
    fn guard_applies_only_to_matches_and_keeps_order() {
        let cx = BuildContext {
            pipeline: "p".into(),
            component: "drop#0".into(),
        };
        let guarded = Guarded::new(
            Arc::new(StartsWith("debug")),
            Arc::new(PerEvent::new(DropAll, &cx)),
        );
        let mut events: Vec<Event> = ["a", "debug x", "b", "debug y", "c"]
            .iter()
            .map(|s| Event::from_text(s))
            .collect();
        guarded.process(&mut events, &mut FilterContext::default());
        let left: Vec<_> = events.iter().map(|e| e.message.clone()).collect();
        assert_eq!(left, vec!["a", "b", "c"]);
    }
}
