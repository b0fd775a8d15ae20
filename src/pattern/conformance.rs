//! Conformance: every example of the filter-pattern format doc
//! (`formats/cloudwatch-logs.md`, section (c), "Golden test table") with its
//! documented result, then weir's own edge cases in the same table form.

use super::*;
use crate::parsers::json::parse_value;

const U1: &str = "[ERROR 400] BAD REQUEST";
const U2: &str = "[ERROR 401] UNAUTHORIZED REQUEST";
const U3: &str = "[ERROR 419] MISSING ARGUMENTS";
const U4: &str = "[ERROR 420] INVALID ARGUMENTS";
const U5: &str = "[ERROR 500] INTERNAL SERVER ERROR";
const U6: &str = "[INFO] REQUEST FAILED";
const U7: &str = "Exiting with ERRORCODE: -1";
const U8: &str = "[SUCCESS 200] AUTHORIZED REQUEST";
const J1: &str = r#"{"eventType":"UpdateTrail","sourceIPAddress":"111.111.111.111","arrayKey":["value","another value"],"objectList":[{"name":"a","id":1},{"name":"b","id":2}],"SomeObject":null,"cluster.name":"c","ThisFlag":true}"#;
const J2: &str = r#"{"user":{"id":1,"email":"John.Stiles@example.com"},"users":[{"id":2,"email":"John.Doe@example.com"},{"id":3,"email":"Jane.Doe@example.com"}],"actions":["GET","PUT","DELETE"],"coordinates":[[0,1,2],[4,5,6],[7,8,9]]}"#;
const J3: &str = r#"{"users":[1,2,3]}"#;
const J4: &str = r#"{"latency":50,"requestType":"GET"}"#;
const S1: &str =
    r#"127.0.0.1 Prod frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534"#;
const S2: &str = "INFO 09/25/2014 12:00:00 GET /service/resource/67 1200";
const S3: &str = "INFO 09/25/2014 12:00:01 POST /service/resource/67/part/111 1310";
const S4: &str = "WARNING 09/25/2014 12:00:02 Invalid user request";
const S5: &str = "ERROR 09/25/2014 12:00:02 Failed to process request";

/// The doc's golden table: (row, pattern, event, documented result).
const GOLDEN: &[(u32, &str, &str, bool)] = &[
    (1, "ERROR", U1, true),
    (2, "ERROR", U7, true),
    (3, "ERROR", U6, false),
    (4, "error", U1, false),
    (5, "ERROR ARGUMENTS", U3, true),
    (6, "ERROR ARGUMENTS", U1, false),
    (7, "?ERROR ?ARGUMENTS", U1, true),
    (8, "?ERROR ?ARGUMENTS", U6, false),
    (9, "?ERROR ?ARGUMENTS REQUEST", U6, true),
    (10, "?ERROR ?ARGUMENTS REQUEST", U3, false),
    (11, "\"INTERNAL SERVER ERROR\"", U5, true),
    (12, "ERROR -ARGUMENTS", U2, true),
    (13, "ERROR -ARGUMENTS", U4, false),
    (14, "\" \"", U6, true),
    (15, "%AUTHORIZED%", U2, true),
    (16, "%AUTHORIZED%", U8, true),
    (17, "%colou?r%", "colour", true),
    (18, "%ab+c%", "ac", false),
    (19, "%10.10.0.1%", "from 10010,051", true),
    (20, r"%10\.10\.0\.1%", "from 10010,051", false),
    (23, r#"{ $.eventType = "UpdateTrail" }"#, J1, true),
    (24, "{ $.eventType = UpdateTrail }", J1, true),
    (25, "{ $.sourceIPAddress != 123.123.* }", J1, true),
    (26, r#"{ $.arrayKey[0] = "value" }"#, J1, true),
    (27, "{ $.objectList[1].id = 2 }", J1, true),
    (28, "{ $.SomeObject IS NULL }", J1, true),
    (29, "{ $.SomeOtherObject NOT EXISTS }", J1, true),
    (30, "{ $.ThisFlag IS TRUE }", J1, true),
    (31, "{ $.eventType = %Trail% }", J1, true),
    (32, "{ $.arrayKey[*] = %val.{2}% }", J1, true),
    (33, r"{ $.* = %111\.111\.111\.1[0-9]{1,2}% }", J1, true),
    (34, r#"{ $.['cluster.name'] = "c" }"#, J1, true),
    (35, r#"{ $.eventType = "UpdateTrail" }"#, U1, false),
    (36, "{ $.users = 1 }", J3, false),
    (37, "{ $.users != 1 }", J3, false),
    (38, r#"{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }"#, J2, true),
    (39, r#"{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" }"#, J2, false),
    (40, r#"{ $.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = "nonmatch" && $.actions[2] = "nonmatch" }"#, J2, true),
    (41, r#"{ ($.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = "nonmatch") && $.actions[2] = "nonmatch" }"#, J2, false),
    (42, "{ $.latency = * }", J4, true),
    (43, "{ $.latency > 75 }", J4, false),
    (44, "[ip, user, username, timestamp, request = *.html*, status_code = 4*, bytes]", S1, true),
    (45, r"[ip=%127\.0\.0\.[1-9]%, user, username, timestamp, request =*.html*, status_code = 4*, bytes]", S1, true),
    (46, "[..., request =*.html*, status_code = 4*, bytes]", S1, true),
    (47, "[ip, user, username, timestamp, request =*.html*, status_code = 404 || status_code = 410, bytes]", S1, true),
    (48, "[ip, server, username, timestamp, request, status_code, bytes > 1000]", S1, true),
    (49, "[ip, user, username, timestamp, request, status_code = 200, bytes]", S1, false),
    (50, "[w1=ERROR, w2]", S5, true),
    (51, "[w1=ERROR, w2]", S4, false),
    (52, "[w1=ERROR || w1=WARNING, w2]", S4, true),
    (53, "[w1!=ERROR && w1!=WARNING, w2]", S2, true),
    (54, "[logLevel, date, time, method, url=%/service/resource/[0-9]+$%, response_time]", S2, true),
    (55, "[logLevel, date, time, method, url=%/service/resource/[0-9]+$%, response_time]", S3, false),
    (56, "[logLevel, date, time, method, url=%/service/resource/[0-9]+/part/[0-9]+$%, response_time]", S3, true),
];

/// Rows 21 and 22: documented as rejected.
const GOLDEN_INVALID: &[(u32, &str)] = &[(21, "%something!%"), (22, "%(alpha|beta)%")];

/// weir's own cases: (pattern, event, expected), grouped by rule.
const EDGE: &[(&str, &str, bool)] = &[
    // Terms: case, substrings, blanks, `?` only alone.
    ("", "", true),
    ("", "anything", true),
    ("\"\"", "x", true),
    ("ERROR", "", false),
    ("ERROR", "error", false),
    ("-ERROR", "", true),
    ("REQUEST -\"BAD REQUEST\"", U1, false),
    ("REQUEST -\"BAD REQUEST\"", U2, true),
    ("?ERROR ?SUCCESS -UNAUTHORIZED", U2, false),
    ("?ERROR ?SUCCESS -UNAUTHORIZED", U6, true),
    ("?\"SERVER ERROR\" ?MISSING", U5, true),
    ("x [ERROR", "x [ERROR", true),
    ("\"[ERROR 4\"", U3, true),
    ("ERRORCODE: \"-1\"", U7, true),
    ("%^\\[ERROR\\s4\\d\\d\\]%", U4, true),
    ("%^\\[ERROR\\s4\\d\\d\\]%", U5, false),
    ("-%ERROR\\s5%", U5, false),
    ("%REQUEST$% -%^\\[SUCCESS%", U8, false),
    ("%REQUEST$% -%^\\[SUCCESS%", U1, true),
    // JSON: comparisons, types, logic.
    ("{ $.latency >= 50 && $.latency <= 50 }", J4, true),
    ("{ $.latency != 50 }", J4, false),
    ("{ $.latency = 5e1 }", J4, true),
    ("{ $.latency = +50.0 }", J4, true),
    ("{ $.latency < -1 }", J4, false),
    ("{ $.latency = \"50\" }", J4, true),
    ("{ $.latency = 5* }", J4, true),
    ("{ $.requestType = get }", J4, false),
    ("{ $.requestType = G* && $.requestType = *T }", J4, true),
    ("{ $.requestType = \"G*T\" }", J4, true),
    ("{ $.requestType > 1 }", J4, false),
    ("{ $.requestType != PUT }", J4, true),
    ("{ $.missing != PUT }", J4, false),
    ("{ $.missing = * }", J4, false),
    ("{ $.SomeObject = * }", J1, false),
    ("{ $.SomeObject != x }", J1, false),
    ("{ $.SomeObject NOT EXISTS }", J1, false),
    ("{ $.ThisFlag IS FALSE }", J1, false),
    ("{ $.ThisFlag = true }", J1, true),
    ("{ $.eventType IS NULL }", J1, false),
    ("{ $.objectList[*].name = b }", J1, true),
    ("{ $.objectList[*].id > 2 }", J1, false),
    ("{ $.objectList[2] NOT EXISTS }", J1, true),
    ("{ $.objectList[*] NOT EXISTS }", J1, false),
    ("{ $.coordinates[2][2] = 9 }", J2, true),
    ("{ $.coordinates[*][*] = 5 }", J2, true),
    ("{ $.user.* = %Stiles% }", J2, true),
    ("{ $.users[1].email = *@example.com }", J2, true),
    ("{ $.cluster.name = c }", J1, false),
    ("{((($.latency=50)))}", J4, true),
    ("{ $.latency = 50 || $.x = 1 && $.y = 2 }", J4, true),
    ("{ ($.latency = 50 || $.x = 1) && $.y = 2 }", J4, false),
    ("{ $.x NOT EXISTS }", "[1,2]", true),
    ("{ $.x NOT EXISTS }", "not json", false),
    ("{ $.x NOT EXISTS }", "{\"x\":1", false),
    // Space-delimited: field splitting, ellipsis, last slot, conditions.
    ("[a, b, c]", U1, true),
    ("[a, b, c, d]", U1, false),
    ("[a = \"ERROR 400\", b = BAD, c]", U1, true),
    ("[a = ERROR*, b]", U1, true),
    ("[a = ERROR, b]", U1, false),
    ("[..., ts = *-0700, ...]", S1, true),
    ("[..., ts = *+0000, ...]", S1, false),
    ("[ip, ...]", "", false),
    ("[ip, ...]", "1.2.3.4", true),
    ("[...]", "", true),
    ("[a, b, c, d, e, f, g, h]", S1, false),
    (
        "[ip, user, username, timestamp, request, status_code, bytes < 1534]",
        S1,
        false,
    ),
    (
        "[ip, user, username, timestamp, request, status_code, bytes <= 1534]",
        S1,
        true,
    ),
    (
        "[ip, user, username, timestamp, request, status_code >= 400 && status_code < 500, bytes]",
        S1,
        true,
    ),
    (
        "[ip, user, username, timestamp, request, status_code != 404, bytes]",
        S1,
        false,
    ),
    (
        "[ip, user, username, timestamp, request = \"GET /index.html HTTP/1.0\", ...]",
        S1,
        true,
    ),
    ("[..., request = %^GET\\s/index\\.html%, ...]", S1, true),
    ("[w1, w2, w3, w4, w5 = \"request\"]", S4, false),
    ("[w1, w2, w3, w4, w5 = \"user request\"]", S4, true),
    ("[w1, w2, w3, w4, w5, w6 = \"request\"]", S4, true),
    ("[w1, w2, w3, w4 = Invalid*]", S4, true),
    ("[w1, w2, w3, w4 = Invalid]", S4, false),
    ("[w1=WARNING]", S4, false),
    ("[w1=WARNING]", "WARNING", true),
    ("[w1=WARNING, w2]", "WARNING", false),
];

/// Runs a JSON pattern on the event both ways a pipeline can hold it: raw
/// (message parsed lazily) and parsed into fields; they must agree.
fn run(pattern: &Pattern, message: &str) -> bool {
    let raw = Event::from_text(message);
    let result = pattern.matches(&raw);
    assert_eq!(
        result,
        pattern.captures(&raw).is_some(),
        "matches/captures disagree: {pattern:?} on {message}"
    );
    if pattern.kind() == PatternKind::Json {
        if let Ok(Value::Object(fields)) = parse_value(&raw.message) {
            let mut parsed = raw.clone();
            parsed.fields = fields;
            assert_eq!(
                pattern.matches(&parsed),
                result,
                "raw/parsed disagree: {pattern:?} on {message}"
            );
        }
    }
    result
}

#[test]
fn golden_table() {
    let mut failures = Vec::new();
    for &(row, text, message, expected) in GOLDEN {
        match Pattern::compile(text) {
            Ok(p) if run(&p, message) == expected => {}
            Ok(_) => failures.push(format!(
                "row {row}: `{text}` on `{message}`: expected {expected}"
            )),
            Err(e) => failures.push(format!("row {row}: `{text}` did not compile: {e}")),
        }
    }
    for &(row, text) in GOLDEN_INVALID {
        if Pattern::compile(text).is_ok() {
            failures.push(format!("row {row}: `{text}` should be rejected"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        GOLDEN.len() + GOLDEN_INVALID.len(),
        56,
        "every documented row"
    );
}

#[test]
fn edge_cases() {
    let mut failures = Vec::new();
    for &(text, message, expected) in EDGE {
        match Pattern::compile(text) {
            Ok(p) if run(&p, message) == expected => {}
            Ok(_) => failures.push(format!("`{text}` on `{message}`: expected {expected}")),
            Err(e) => failures.push(format!("`{text}` did not compile: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn golden_extracted_values() {
    // Row 44's documented extracted values (brackets and quotes stripped).
    let p = Pattern::compile(
        "[ip, user, username, timestamp, request = *.html*, status_code = 4*, bytes]",
    )
    .unwrap();
    let caps = p.captures(&Event::from_text(S1)).unwrap();
    let got: Vec<(&str, &str)> = caps
        .iter()
        .map(|(n, v)| (n, std::str::from_utf8(v).unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            ("ip", "127.0.0.1"),
            ("user", "Prod"),
            ("username", "frank"),
            ("timestamp", "10/Oct/2000:13:25:15 -0700"),
            ("request", "GET /index.html HTTP/1.0"),
            ("status_code", "404"),
            ("bytes", "1534"),
        ]
    );
    for (i, (_, v)) in got.iter().enumerate() {
        assert_eq!(
            caps.get(&(i + 1).to_string()),
            Some(v.as_bytes()),
            "${}",
            i + 1
        );
    }
    // Row 48: `$server` = Prod, `$bytes` = 1534.
    let p =
        Pattern::compile("[ip, server, username, timestamp, request, status_code, bytes > 1000]")
            .unwrap();
    let caps = p.captures(&Event::from_text(S1)).unwrap();
    assert_eq!(caps.get("server"), Some(&b"Prod"[..]));
    assert_eq!(caps.get("bytes"), Some(&b"1534"[..]));
    // Row 46: the ellipsis leaves the anchored tail.
    let p = Pattern::compile("[..., request =*.html*, status_code = 4*, bytes]").unwrap();
    let caps = p.captures(&Event::from_text(S1)).unwrap();
    assert_eq!(caps.get("request"), Some(&b"GET /index.html HTTP/1.0"[..]));
    // Row 50: the last field takes the rest of the line.
    let p = Pattern::compile("[w1=ERROR, w2]").unwrap();
    let caps = p.captures(&Event::from_text(S5)).unwrap();
    assert_eq!(
        caps.get("w2"),
        Some(&b"09/25/2014 12:00:02 Failed to process request"[..])
    );
    // Row 42: metricValue `$.latency` = 50.
    let p = Pattern::compile("{ $.latency = * }").unwrap();
    let event = Event::from_text(J4);
    let caps = p.captures(&event).unwrap();
    assert_eq!(
        ValueRef::parse("$.latency")
            .unwrap()
            .resolve(&event, Some(&caps)),
        Some(Value::Int(50))
    );
}

#[test]
fn error_columns_and_expectations() {
    let cases: &[(&str, usize, &str)] = &[
        ("[ip, user", 10, "`]` to close the space-delimited pattern opened at column 1"),
        ("  [ip, user", 12, "`]` to close the space-delimited pattern opened at column 3"),
        ("{ $.a = 1", 10, "`}` to close the JSON pattern opened at column 1"),
        ("{ $.a = }", 9, "a value after `=`: a number, a \"string\", a bare word, `*` or a %regex%"),
        ("ERROR \"unclosed", 16, "`\"` to close the string opened at column 7"),
        ("%abc", 5, "`%` to close the regular expression opened at column 1"),
        ("%something!%", 11, "a letter, digit, one of `_ # = @ / ; , - :` or a regex operator (write `\\x21` for a literal '!')"),
        ("%(alpha|beta)%", 2, "no `(`: filter-pattern regular expressions have no grouping (write `\\x28` for a literal `(`)"),
        ("ERROR -", 8, "a term right after the `-` at column 7"),
        ("{ $.a = 1 } ERROR", 13, "the end of the pattern after the closing `}`"),
        ("[a, b] c", 8, "the end of the pattern after the closing `]`"),
        ("{ $.a >= \"5\" }", 10, "a number after `>=` (`<`, `<=`, `>`, `>=` compare numbers)"),
        ("[ERROR 400]", 8, "`,` or `]` after the field"),
        (r#"{"level":"error"}"#, 2, "a selector such as `$.level` (a pattern starting with `{` is a JSON pattern; to search for text, put the whole term in double quotes)"),
        ("{ $.é = 1", 10, "`}` to close the JSON pattern opened at column 1"),
    ];
    let mut failures = Vec::new();
    for &(text, column, expected) in cases {
        match Pattern::compile(text) {
            Ok(_) => failures.push(format!("`{text}` compiled")),
            Err(e) if e.column == column && e.expected == expected && e.pattern == text => {}
            Err(e) => failures.push(format!(
                "`{text}`: got column {} `{}`, want column {column} `{expected}`",
                e.column, e.expected
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
