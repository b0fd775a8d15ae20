//! `format: vpc_flow` on arbitrary bytes, with and without a header line in
//! the event's metadata (the part of the input before its first newline) and
//! in each output mode: never panics, at most one record per line, which
//! writes the same JSON deferred as built.
#![no_main]

#[path = "../common/deferred.rs"]
mod deferred;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use weir::config::{from_node, yaml};
use weir::event::Event;
use weir::parsers::vpc_flow::VpcFlowParser;
use weir::parsers::Parser;

fuzz_target!(|data: &[u8]| {
    let (header, line) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (Some(&data[..i]), &data[i + 1..]),
        None => (None, data),
    };
    let line = Bytes::copy_from_slice(line);
    for options in [
        "{}",
        "mode: ecs",
        "mode: original",
        "fields: 'version srcaddr dstaddr srcport dstport protocol start end tcp-flags action log-status'",
    ] {
        let node = yaml::parse(options).expect("valid YAML");
        let parser = VpcFlowParser::new(from_node(&node).expect("valid options"));
        for header in [None, header] {
            let mut event = Event::from_text("");
            event.meta.header = header.map(Bytes::copy_from_slice);
            let mut out = Vec::new();
            if parser.parse(&line, &event, &mut out).is_ok() {
                assert!(out.len() <= 1);
                for parsed in &out {
                    deferred::check(parsed.value.as_object().expect("an object"));
                }
            } else {
                assert!(out.is_empty());
            }
        }
    }
});
