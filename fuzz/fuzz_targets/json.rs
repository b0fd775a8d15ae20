//! `format: json` on arbitrary bytes, checked against serde_json: weir's
//! simd-json parser must never panic, must accept only what serde_json
//! accepts, and what it accepts must encode back to the same document
//! (objects compared by key, the last of duplicate keys winning in both;
//! numbers compared as numbers, so `1.0` and `1` and the float rounding of
//! huge integers do not count as differences).
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use serde_json::Value as Json;
use weir::event::json::write_value;
use weir::parsers::json::parse_value;

fuzz_target!(|data: &[u8]| {
    let input = Bytes::copy_from_slice(data);
    let ours = parse_value(&input);
    let theirs = serde_json::from_slice::<Json>(data);
    let Ok(value) = ours else {
        return;
    };
    let Ok(expected) = theirs else {
        panic!("weir accepted what serde_json refuses: {:?}", String::from_utf8_lossy(data));
    };
    let mut out = BytesMut::new();
    write_value(&value, &mut out);
    let back: Json = serde_json::from_slice(&out).unwrap_or_else(|e| {
        panic!("weir wrote invalid JSON ({e}): {:?}", String::from_utf8_lossy(&out))
    });
    assert!(
        same(&expected, &back),
        "input {:?} became {:?}",
        String::from_utf8_lossy(data),
        String::from_utf8_lossy(&out)
    );
});

fn same(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => {
                let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
                x == y || ((x - y) / x.abs().max(y.abs())).abs() < 1e-12
            }
        },
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}
