//! Which leases this instance takes on a pass over the lease table — the
//! Kinesis Client Library's rules, simplified.
//!
//! A lease is *expired* when its `leaseCounter` has not changed for longer
//! than `lease_duration`, measured on this instance's monotonic clock from
//! when it first saw that counter value (wall clocks of different hosts are
//! never compared). Free leases are available at once.
//!
//! The fair share is `ceil(leases / instances)`, instances being the distinct
//! owners of live leases plus this one. An instance below its share takes
//! available leases up to it; when none are available it steals one lease
//! per pass from the most loaded owner, if that owner holds more than the
//! share. Stealing one at a time lets the table settle without two
//! instances trading the same shards back and forth.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::state::leases::Lease;

/// Remembers when each lease's counter last changed.
#[derive(Default)]
pub struct Expiry {
    seen: HashMap<String, (u64, Instant)>,
}

impl Expiry {
    /// Records the counters of a scan; returns the keys of expired leases.
    pub fn observe(&mut self, leases: &[Lease], now: Instant, duration: Duration) -> Vec<String> {
        let mut expired = Vec::new();
        let mut next = HashMap::with_capacity(leases.len());
        for l in leases {
            let since = match self.seen.get(&l.key) {
                Some((counter, since)) if *counter == l.counter => *since,
                _ => now,
            };
            if now.duration_since(since) > duration {
                expired.push(l.key.clone());
            }
            next.insert(l.key.clone(), (l.counter, since));
        }
        self.seen = next;
        expired
    }
}

/// The keys to take this pass. `candidates` are the leases that may be read
/// now (not finished, parents finished); `expired` the keys [`Expiry`] found
/// expired.
pub fn plan(candidates: &[&Lease], expired: &[String], me: &str) -> Vec<String> {
    if candidates.is_empty() {
        return Vec::new();
    }
    let is_expired = |l: &Lease| expired.contains(&l.key);
    let mut load: BTreeMap<&str, usize> = BTreeMap::new();
    let mut mine = 0;
    let mut available = Vec::new();
    for l in candidates {
        match l.owner.as_deref() {
            Some(o) if o == me => mine += 1,
            Some(o) if !is_expired(l) => *load.entry(o).or_default() += 1,
            _ => available.push(l.key.clone()),
        }
    }
    let instances = load.len() + 1;
    let target = candidates.len().div_ceil(instances);
    if mine >= target {
        return Vec::new();
    }
    if !available.is_empty() {
        available.sort();
        available.truncate(target - mine);
        return available;
    }
    // Steal one from the most loaded owner, if it holds more than its share.
    let Some((&victim, &most)) = load
        .iter()
        .max_by_key(|(o, n)| (**n, std::cmp::Reverse(**o)))
    else {
        return Vec::new();
    };
    if most <= target && !(most == target && mine + 1 < target) {
        return Vec::new();
    }
    candidates
        .iter()
        .filter(|l| l.owner.as_deref() == Some(victim))
        .map(|l| l.key.clone())
        .max()
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(key: &str, owner: Option<&str>, counter: u64) -> Lease {
        Lease {
            key: key.into(),
            owner: owner.map(Into::into),
            counter,
            checkpoint: None,
            parents: Vec::new(),
        }
    }

    #[test]
    fn first_instance_takes_everything_free() {
        let ls = [
            lease("a", None, 0),
            lease("b", None, 0),
            lease("c", None, 0),
        ];
        let c: Vec<_> = ls.iter().collect();
        assert_eq!(plan(&c, &[], "me"), ["a", "b", "c"]);
    }

    #[test]
    fn a_newcomer_steals_one_per_pass_up_to_its_share() {
        let mut ls = [
            lease("a", Some("x"), 1),
            lease("b", Some("x"), 1),
            lease("c", Some("x"), 1),
            lease("d", Some("x"), 1),
        ];
        let c: Vec<_> = ls.iter().collect();
        assert_eq!(plan(&c, &[], "me"), ["d"]);
        ls[3].owner = Some("me".into());
        let c: Vec<_> = ls.iter().collect();
        assert_eq!(plan(&c, &[], "me"), ["c"]);
        ls[2].owner = Some("me".into());
        let c: Vec<_> = ls.iter().collect();
        assert!(plan(&c, &[], "me").is_empty(), "2 of 4 is the fair share");
        // The other side does not steal back.
        let c: Vec<_> = ls.iter().collect();
        assert!(plan(&c, &[], "x").is_empty());
    }

    #[test]
    fn expired_leases_are_taken_first() {
        let ls = [lease("a", Some("dead"), 3), lease("b", Some("dead"), 3)];
        let c: Vec<_> = ls.iter().collect();
        assert_eq!(plan(&c, &["a".into(), "b".into()], "me"), ["a", "b"]);
        let mut e = Expiry::default();
        let t0 = Instant::now();
        let d = Duration::from_secs(10);
        assert!(e.observe(&ls, t0, d).is_empty());
        assert_eq!(e.observe(&ls, t0 + Duration::from_secs(11), d), ["a", "b"]);
        let renewed = [lease("a", Some("dead"), 4), lease("b", Some("dead"), 3)];
        assert_eq!(e.observe(&renewed, t0 + Duration::from_secs(12), d), ["b"]);
    }
}
