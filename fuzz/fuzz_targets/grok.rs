//! Fuzzes grok: compiling arbitrary pattern text (with the shipped library)
//! and matching arbitrary lines against the library's log patterns, through
//! both capture engines. Neither may panic, and wherever the segmented engine
//! decides, its captures must equal the full regex's.

#![no_main]

use std::sync::OnceLock;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use weir::event::Event;
use weir::parsers::grok::compile::{build_regex, expand};
use weir::parsers::grok::library::Definitions;
use weir::parsers::grok::matcher::CompiledPattern;
use weir::parsers::grok::GrokParser;
use weir::parsers::Parser;

const PATTERNS: &[&str] = &[
    "^%{S3_ACCESS_LOG}",
    "^%{ELB_ACCESS_LOG}",
    "^%{ALB_ACCESS_LOG}",
    "^%{COMBINEDAPACHELOG}",
    "%{SYSLOGLINE}",
    "^%{SYSLOG5424LINE}$",
];

fn library() -> &'static (GrokParser, Vec<CompiledPattern>) {
    static LIB: OnceLock<(GrokParser, Vec<CompiledPattern>)> = OnceLock::new();
    LIB.get_or_init(|| {
        let defs = Definitions::library();
        let compiled = PATTERNS
            .iter()
            .map(|p| {
                let e = expand(p, defs).expect("library pattern expands");
                let r = build_regex(&e.regex).expect("library regex compiles");
                CompiledPattern::new((*p).to_owned(), &e, r)
            })
            .collect();
        let parser = GrokParser::with_patterns(PATTERNS).expect("library patterns compile");
        (parser, compiled)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if selector & 1 == 0 {
        // Pattern text: must compile or fail with an error, never panic.
        if let Ok(text) = std::str::from_utf8(rest) {
            if let Ok(parser) = GrokParser::with_patterns(&[text]) {
                let mut out = Vec::new();
                let _ = parser.parse(&Bytes::copy_from_slice(rest), &Event::from_text(""), &mut out);
            }
        }
        return;
    }
    let (parser, compiled) = library();
    let line = Bytes::copy_from_slice(rest);
    let mut out = Vec::new();
    let _ = parser.parse(&line, &Event::from_text(""), &mut out);
    for pattern in compiled {
        if let Some(segmented) = pattern.segmented_spans(rest) {
            let full = pattern.regex_spans(rest).expect("segmented match implies a regex match");
            assert_eq!(segmented[1..], full[1..], "{}", pattern.source);
        }
    }
});
