//! `format: syslog` on arbitrary bytes, in every mode: it must never panic,
//! and whatever it accepts must yield the `log.syslog` object.
#![no_main]

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use weir::event::Event;
use weir::parsers::syslog::{SyslogMode, SyslogOptions, SyslogParser, Timezone};
use weir::parsers::Parser;

fuzz_target!(|data: &[u8]| {
    let now: DateTime<Utc> = DateTime::from_timestamp(1_735_689_600, 0).unwrap_or_default();
    let input = Bytes::copy_from_slice(data);
    let event = Event::new(input.clone(), now);
    for mode in [SyslogMode::Auto, SyslogMode::Rfc5424, SyslogMode::Rfc3164] {
        for timezone in [Timezone::Local, Timezone::parse("-05:30").unwrap_or_default()] {
            let parser = SyslogParser::with_clock(
                SyslogOptions { mode, timezone },
                Arc::new(move || now),
            );
            let mut out = Vec::new();
            if parser.parse(&input, &event, &mut out).is_ok() {
                assert_eq!(out.len(), 1);
                let fields = out[0].value.as_object().expect("an object");
                assert!(fields.get("log").is_some());
            }
        }
    }
});
