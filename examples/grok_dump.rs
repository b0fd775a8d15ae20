use weir::parsers::grok::compile::{build_regex, expand};
use weir::parsers::grok::library::Definitions;
use weir::parsers::grok::matcher::CompiledPattern;
fn main() {
    let lib = Definitions::library();
    for p in [
        "^%{S3_ACCESS_LOG}",
        "^%{ELB_ACCESS_LOG}",
        "^%{ALB_ACCESS_LOG}",
        "^%{COMBINEDAPACHELOG}",
        "^%{SYSLOGLINE}",
    ] {
        let e = expand(p, lib).unwrap();
        let cp = CompiledPattern::new(p.into(), &e, build_regex(&e.regex).unwrap());
        println!("{p}: {}\n", cp.describe_segments().unwrap_or_default());
    }
}
