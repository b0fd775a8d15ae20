//! Batches: the unit that moves through channels.

use std::sync::Arc;

use super::ack::Ack;
use crate::event::Event;

/// Events from one input, with the token that tells the input when they are
/// delivered. Channels carry batches, never single events.
#[derive(Debug)]
pub struct Batch {
    pub events: Vec<Event>,
    pub ack: Ack,
    /// Index of the input (within its pipeline) the events came from.
    pub input: usize,
}

/// What one output receives: a shared batch and, when the output has a `when`
/// condition, the indices of the events it selected. Fan-out to several
/// outputs shares one allocation; nothing is copied.
#[derive(Debug, Clone)]
pub struct OutputBatch {
    batch: Arc<Batch>,
    selection: Option<Arc<[u32]>>,
}

impl OutputBatch {
    pub fn all(batch: Arc<Batch>) -> Self {
        OutputBatch {
            batch,
            selection: None,
        }
    }

    pub fn selected(batch: Arc<Batch>, selection: Arc<[u32]>) -> Self {
        OutputBatch {
            batch,
            selection: Some(selection),
        }
    }

    /// The number of events for this output.
    pub fn len(&self) -> usize {
        match &self.selection {
            Some(s) => s.len(),
            None => self.batch.events.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The events for this output, in order.
    pub fn events(&self) -> impl Iterator<Item = &Event> + '_ {
        let all = &self.batch.events;
        let selection = self.selection.as_deref();
        let mut i = 0usize;
        std::iter::from_fn(move || {
            let item = match selection {
                Some(s) => s.get(i).and_then(|&j| all.get(j as usize)),
                None => all.get(i),
            };
            i += 1;
            item
        })
    }

    /// Marks the events as not delivered (see [`Ack::fail`]).
    pub fn fail(&self) {
        self.batch.ack.fail();
    }

    /// The acknowledgement token, for outputs that keep it past the batch
    /// (e.g. until an uploaded object is complete).
    pub fn ack(&self) -> &Ack {
        &self.batch.ack
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_views_share_the_batch() {
        let events = (0..4).map(|i| Event::from_text(&i.to_string())).collect();
        let batch = Arc::new(Batch {
            events,
            ack: Ack::untracked(),
            input: 0,
        });
        let all = OutputBatch::all(batch.clone());
        let some = OutputBatch::selected(batch, Arc::from(vec![1u32, 3]));
        assert_eq!(all.len(), 4);
        let picked: Vec<_> = some.events().map(|e| e.message.clone()).collect();
        assert_eq!(picked, vec!["1", "3"]);
    }
}
