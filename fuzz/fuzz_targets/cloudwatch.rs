//! `format: cloudwatch_subscription` and `format: cloudwatch_export` on
//! arbitrary bytes, raw and gzip-looking: they must never panic, and an error
//! must leave no partial records behind.
#![no_main]

use bytes::Bytes;
use chrono::Utc;
use libfuzzer_sys::fuzz_target;
use weir::event::Event;
use weir::parsers::cloudwatch::{
    CloudwatchExportOptions, CloudwatchExportParser, CloudwatchSubscriptionOptions,
    CloudwatchSubscriptionParser,
};
use weir::parsers::Parser;

fuzz_target!(|data: &[u8]| {
    // A small bound keeps inflating fuzzed gzip streams fast.
    let max = 1 << 20;
    let sub = CloudwatchSubscriptionParser::new(CloudwatchSubscriptionOptions {
        max_decompressed_bytes: max,
    });
    let export = CloudwatchExportParser::new(CloudwatchExportOptions {
        max_decompressed_bytes: max,
    });
    let input = Bytes::copy_from_slice(data);
    let event = Event::new(input.clone(), Utc::now());
    let parsers: [&dyn Parser; 2] = [&sub, &export];
    for parser in parsers {
        let mut out = Vec::new();
        if parser.parse(&input, &event, &mut out).is_err() {
            assert!(out.is_empty(), "an error must withdraw every record");
        } else {
            assert!(out.iter().all(|r| r.message.is_some()));
        }
    }
});
