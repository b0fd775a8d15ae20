//! De-aggregation of records written by the Kinesis Producer Library.
//!
//! The KPL packs many user records into one Kinesis record: the magic bytes
//! `F3 89 9A C2`, a protobuf `AggregatedRecord`, and the MD5 of that protobuf
//! as a 16-byte trailer. The protobuf is small and fixed, so it is decoded by
//! hand here rather than through a code generator.
//!
//! As in the Kinesis Client Library, anything that is not a well-formed
//! aggregate — wrong magic, wrong MD5, a protobuf that does not parse — is
//! passed on as one ordinary record, never an error: a producer may well
//! write data that happens to start with the magic bytes.

use bytes::Bytes;
use md5::{Digest, Md5};

/// The first four bytes of every KPL aggregate.
pub const MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];
const DIGEST_LEN: usize = 16;

/// One user record of an aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub data: Bytes,
    pub partition_key: Option<Bytes>,
    pub explicit_hash_key: Option<Bytes>,
}

/// The user records of `data` if it is a KPL aggregate, else `None` (the
/// record is an ordinary one). An aggregate whose index points outside its
/// tables is cut at that record, with a warning, as the KCL does.
pub fn deaggregate(data: &Bytes) -> Option<Vec<UserRecord>> {
    if data.len() < MAGIC.len() + DIGEST_LEN + 1 || data[..4] != MAGIC {
        return None;
    }
    let body_end = data.len() - DIGEST_LEN;
    let body = data.slice(MAGIC.len()..body_end);
    if Md5::digest(&body[..]).as_slice() != &data[body_end..] {
        return None;
    }
    let aggregate = parse_aggregate(&body)?;
    let mut out = Vec::with_capacity(aggregate.records.len());
    for (i, r) in aggregate.records.into_iter().enumerate() {
        let pk = match aggregate.partition_keys.get(r.pk_index as usize) {
            Some(pk) => pk.clone(),
            None => {
                tracing::warn!(
                    record = i,
                    index = r.pk_index,
                    "KPL aggregate: partition key index out of range; skipping the rest of it"
                );
                break;
            }
        };
        let ehk = match r.ehk_index {
            None => None,
            Some(idx) => match aggregate.explicit_hash_keys.get(idx as usize) {
                Some(k) => Some(k.clone()),
                None => {
                    tracing::warn!(
                        record = i,
                        index = idx,
                        "KPL aggregate: explicit hash key index out of range; skipping the rest of it"
                    );
                    break;
                }
            },
        };
        out.push(UserRecord {
            data: r.data,
            partition_key: Some(pk),
            explicit_hash_key: ehk,
        });
    }
    Some(out)
}

struct Aggregate {
    partition_keys: Vec<Bytes>,
    explicit_hash_keys: Vec<Bytes>,
    records: Vec<RawRecord>,
}

struct RawRecord {
    pk_index: u64,
    ehk_index: Option<u64>,
    data: Bytes,
}

/// A protobuf field: its number and its value.
enum FieldValue {
    Varint(u64),
    Bytes(Bytes),
    /// Fixed 32/64-bit values: skipped, never used by the KPL.
    Fixed,
}

/// Reads protobuf fields from a buffer; `None` on any malformation.
struct Reader {
    buf: Bytes,
    pos: usize,
}

impl Reader {
    fn new(buf: Bytes) -> Self {
        Reader { buf, pos: 0 }
    }

    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos)?;
            self.pos += 1;
            value |= u64::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    /// The next field, `Some(None)` at the end of the buffer.
    fn field(&mut self) -> Option<Option<(u64, FieldValue)>> {
        if self.pos >= self.buf.len() {
            return Some(None);
        }
        let key = self.varint()?;
        let number = key >> 3;
        let value = match key & 7 {
            0 => FieldValue::Varint(self.varint()?),
            1 => {
                self.skip(8)?;
                FieldValue::Fixed
            }
            2 => {
                let len = usize::try_from(self.varint()?).ok()?;
                let end = self.pos.checked_add(len)?;
                if end > self.buf.len() {
                    return None;
                }
                let b = self.buf.slice(self.pos..end);
                self.pos = end;
                FieldValue::Bytes(b)
            }
            5 => {
                self.skip(4)?;
                FieldValue::Fixed
            }
            // Groups (3, 4) are deprecated and never written by the KPL.
            _ => return None,
        };
        Some(Some((number, value)))
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        let end = self.pos.checked_add(n)?;
        if end > self.buf.len() {
            return None;
        }
        self.pos = end;
        Some(())
    }
}

fn parse_aggregate(body: &Bytes) -> Option<Aggregate> {
    let mut agg = Aggregate {
        partition_keys: Vec::new(),
        explicit_hash_keys: Vec::new(),
        records: Vec::new(),
    };
    let mut r = Reader::new(body.clone());
    while let Some((number, value)) = r.field()? {
        match (number, value) {
            (1, FieldValue::Bytes(b)) => agg.partition_keys.push(b),
            (2, FieldValue::Bytes(b)) => agg.explicit_hash_keys.push(b),
            (3, FieldValue::Bytes(b)) => agg.records.push(parse_record(b)?),
            // A known field with the wrong wire type is malformed.
            (1..=3, _) => return None,
            _ => {}
        }
    }
    Some(agg)
}

fn parse_record(buf: Bytes) -> Option<RawRecord> {
    let mut pk_index = None;
    let mut ehk_index = None;
    let mut data = None;
    let mut r = Reader::new(buf);
    while let Some((number, value)) = r.field()? {
        match (number, value) {
            (1, FieldValue::Varint(v)) => pk_index = Some(v),
            (2, FieldValue::Varint(v)) => ehk_index = Some(v),
            (3, FieldValue::Bytes(b)) => data = Some(b),
            // Tags (4) are not used; still they must be length-delimited.
            (4, FieldValue::Bytes(_)) => {}
            (1..=4, _) => return None,
            _ => {}
        }
    }
    // `partition_key_index` and `data` are `required` in the proto2 schema.
    Some(RawRecord {
        pk_index: pk_index?,
        ehk_index,
        data: data?,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The documented golden sample: user records `hi` and `yo`, key `a`.
    pub const GOLDEN: [u8; 39] = [
        0xf3, 0x89, 0x9a, 0xc2, 0x0a, 0x01, 0x61, 0x1a, 0x06, 0x08, 0x00, 0x1a, 0x02, 0x68, 0x69,
        0x1a, 0x06, 0x08, 0x00, 0x1a, 0x02, 0x79, 0x6f, 0xdd, 0x0a, 0x5c, 0x3d, 0xa5, 0x8a, 0x50,
        0x8e, 0x95, 0x7c, 0x8b, 0x31, 0x36, 0xd6, 0x3d, 0x36,
    ];

    /// Builds an aggregate the way the KPL does (for tests and benches).
    pub fn aggregate(keys: &[&str], records: &[(u64, Option<u64>, &[u8])]) -> Vec<u8> {
        fn varint(out: &mut Vec<u8>, mut v: u64) {
            while v >= 0x80 {
                out.push((v as u8) | 0x80);
                v >>= 7;
            }
            out.push(v as u8);
        }
        fn bytes(out: &mut Vec<u8>, tag: u8, b: &[u8]) {
            out.push(tag);
            varint(out, b.len() as u64);
            out.extend_from_slice(b);
        }
        let mut body = Vec::new();
        for k in keys {
            bytes(&mut body, 0x0A, k.as_bytes());
        }
        for (pk, ehk, data) in records {
            let mut rec = vec![0x08];
            varint(&mut rec, *pk);
            if let Some(e) = ehk {
                rec.push(0x10);
                varint(&mut rec, *e);
            }
            bytes(&mut rec, 0x1A, data);
            bytes(&mut body, 0x1A, &rec);
        }
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&body);
        out.extend_from_slice(Md5::digest(&body).as_slice());
        out
    }

    #[test]
    fn golden_sample() {
        let records = deaggregate(&Bytes::from_static(&GOLDEN)).unwrap();
        let data: Vec<_> = records.iter().map(|r| r.data.clone()).collect();
        assert_eq!(data, [Bytes::from_static(b"hi"), Bytes::from_static(b"yo")]);
        assert!(records.iter().all(
            |r| r.partition_key.as_deref() == Some(&b"a"[..]) && r.explicit_hash_key.is_none()
        ));
        assert_eq!(
            aggregate(&["a"], &[(0, None, b"hi"), (0, None, b"yo")]),
            GOLDEN
        );
    }

    #[test]
    fn not_aggregates_pass_through() {
        // Bad MD5.
        let mut bad = GOLDEN;
        bad[38] ^= 1;
        assert_eq!(deaggregate(&Bytes::copy_from_slice(&bad)), None);
        // Good MD5 over a body that is not an AggregatedRecord.
        let mut junk = MAGIC.to_vec();
        let body = [0xFFu8, 0xFF, 0xFF];
        junk.extend_from_slice(&body);
        junk.extend_from_slice(Md5::digest(body).as_slice());
        assert_eq!(deaggregate(&Bytes::from(junk)), None);
        // Plain data, too short, no magic.
        assert_eq!(deaggregate(&Bytes::from_static(b"hello world")), None);
        assert_eq!(deaggregate(&Bytes::from_static(&GOLDEN[..20])), None);
    }

    #[test]
    fn explicit_hash_keys_and_out_of_range_indexes() {
        let mut body = aggregate(&["k0", "k1"], &[(1, None, b"a"), (0, None, b"b")]);
        let r = deaggregate(&Bytes::from(body.clone())).unwrap();
        assert_eq!(r[0].partition_key.as_deref(), Some(&b"k1"[..]));
        assert_eq!(r[1].partition_key.as_deref(), Some(&b"k0"[..]));
        // An index past the table cuts the aggregate there.
        body = aggregate(
            &["k0"],
            &[(0, None, b"a"), (5, None, b"b"), (0, None, b"c")],
        );
        let r = deaggregate(&Bytes::from(body)).unwrap();
        assert_eq!(r.len(), 1);
        // Explicit hash key index without a table: cut too.
        let r = deaggregate(&Bytes::from(aggregate(&["k"], &[(0, Some(0), b"x")]))).unwrap();
        assert!(r.is_empty());
    }

    proptest! {
        #[test]
        fn round_trip(records in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 1..20)) {
            let spec: Vec<(u64, Option<u64>, &[u8])> = records.iter().map(|r| (0, None, &r[..])).collect();
            let out = deaggregate(&Bytes::from(aggregate(&["pk"], &spec))).unwrap();
            let got: Vec<Vec<u8>> = out.iter().map(|r| r.data.to_vec()).collect();
            prop_assert_eq!(got, records);
        }

        #[test]
        fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..200)) {
            let mut data = MAGIC.to_vec();
            data.extend_from_slice(&body);
            data.extend_from_slice(Md5::digest(&body).as_slice());
            let _ = deaggregate(&Bytes::from(data));
        }
    }
}
