use weir::parsers::grok::compile::expand;
use weir::parsers::grok::library::Definitions;
fn main() {
    let lib = Definitions::library();
    for p in ["^%{S3_ACCESS_LOG}", "^%{ELB_ACCESS_LOG}", "^%{ALB_ACCESS_LOG}", "^%{COMBINEDAPACHELOG}", "^%{SYSLOGLINE}"] {
        println!("{}", expand(p, lib).unwrap().regex);
    }
}
