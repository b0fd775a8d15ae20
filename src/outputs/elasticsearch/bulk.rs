//! Reading `_bulk` responses: what happened to each document, and what to do
//! about it. Pure functions, so the policy is tested without a server.
//!
//! The policy follows the `_bulk` contract (see the README): 2xx delivered;
//! 409 is a replay of a document that exists (delivered); 408, 429 and 5xx
//! (but 501) are transient, retried; every other item error (400 mapping
//! errors, 404 missing index, …) is permanent and dead-lettered. A whole
//! response of 413/417 means the body is too large: split it.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

/// Ask the server for only what the classification needs: keeps responses
/// small while every item keeps its position (each keeps its `status`).
pub const FILTER_PATH: &str = "errors,items.*.status,items.*.error";

/// What happened to one document in one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    Indexed,
    /// 409: the `_id` exists. With `create` and deterministic ids this is a
    /// replay of a document already delivered.
    Conflict,
    /// Transient: send it again later.
    Retry(Failure),
    /// Permanent: dead-letter it.
    Reject(Failure),
}

/// Why a document (or request) failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// HTTP status, 0 for a transport error (no response).
    pub status: u16,
    /// `error.type` (`mapper_parsing_exception`), or a weir name for
    /// failures without one (`transport_error`, `request_entity_too_large`).
    pub kind: String,
    pub reason: String,
}

impl Failure {
    pub fn new(status: u16, kind: impl Into<String>, reason: impl Into<String>) -> Self {
        Failure {
            status,
            kind: kind.into(),
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.status > 0 {
            write!(f, "{} {}: {}", self.status, self.kind, self.reason)
        } else {
            write!(f, "{}: {}", self.kind, self.reason)
        }
    }
}

/// What to do with a whole request's documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkOutcome {
    /// One outcome per document, in request order.
    Items(Vec<ItemOutcome>),
    /// 413/417: the body is over `http.max_content_length`; split and resend.
    TooLarge,
    /// The request failed as a whole, transiently: resend every document.
    RetryAll(Failure),
    /// The request was refused as a whole, for good: dead-letter them all.
    RejectAll(Failure),
}

/// Whether an HTTP status (of an item or of a whole request) is transient.
pub fn is_transient(status: u16) -> bool {
    matches!(status, 408 | 429) || (500..=599).contains(&status) && status != 501
}

/// Classifies one item.
pub fn classify_item(status: u16, error: Option<&serde_json::Value>) -> ItemOutcome {
    match status {
        200..=299 => ItemOutcome::Indexed,
        409 => ItemOutcome::Conflict,
        s => {
            let failure = describe_error(s, error);
            if is_transient(s) {
                ItemOutcome::Retry(failure)
            } else {
                ItemOutcome::Reject(failure)
            }
        }
    }
}

/// Classifies a whole response to a request of `expected` documents.
pub fn classify_response(status: u16, body: &[u8], expected: usize) -> BulkOutcome {
    match status {
        200..=299 => {}
        413 | 417 => return BulkOutcome::TooLarge,
        // Credentials can be fixed (or the proxy recover) without losing
        // the documents: keep them and keep trying, loudly.
        401 | 403 => return BulkOutcome::RetryAll(whole_failure(status, body)),
        s if is_transient(s) => return BulkOutcome::RetryAll(whole_failure(status, body)),
        _ => return BulkOutcome::RejectAll(whole_failure(status, body)),
    }
    let parsed: Response = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            return BulkOutcome::RetryAll(Failure::new(
                status,
                "invalid_response",
                format!(
                    "the _bulk response is not the expected JSON ({e}): {}",
                    preview(body)
                ),
            ))
        }
    };
    if parsed.items.len() != expected {
        // A known server bug returned more items than actions: the items
        // cannot be matched to documents, so none of them is trusted.
        return BulkOutcome::RetryAll(Failure::new(
            status,
            "item_count_mismatch",
            format!(
                "the _bulk response has {} items for {expected} documents",
                parsed.items.len()
            ),
        ));
    }
    if !parsed.errors {
        // The cheap path: every item succeeded (statuses not inspected).
        if parsed.items.iter().all(|i| i.error.is_none()) {
            return BulkOutcome::Items(vec![ItemOutcome::Indexed; expected]);
        }
    }
    BulkOutcome::Items(
        parsed
            .items
            .iter()
            .map(|i| classify_item(i.status, i.error.as_ref()))
            .collect(),
    )
}

/// The failure of a whole request, from its (error) body.
fn whole_failure(status: u16, body: &[u8]) -> Failure {
    #[derive(Deserialize)]
    struct ErrorBody {
        error: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { error: Some(e) }) => describe_error(status, Some(&e)),
        _ => Failure::new(status, status_name(status), preview(body)),
    }
}

fn status_name(status: u16) -> &'static str {
    match status {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        408 => "request_timeout",
        413 => "request_entity_too_large",
        429 => "too_many_requests",
        500 => "internal_server_error",
        502 => "bad_gateway",
        503 => "service_unavailable",
        504 => "gateway_timeout",
        _ => "http_error",
    }
}

/// `error` is usually `{type, reason, caused_by: {type, reason}}`, sometimes
/// a bare string.
fn describe_error(status: u16, error: Option<&serde_json::Value>) -> Failure {
    let Some(error) = error else {
        return Failure::new(status, status_name(status), "no error details");
    };
    if let Some(text) = error.as_str() {
        return Failure::new(status, status_name(status), text);
    }
    let kind = error
        .get("type")
        .and_then(|t| t.as_str())
        .unwrap_or(status_name(status))
        .to_owned();
    let mut reason = error
        .get("reason")
        .and_then(|r| r.as_str())
        .unwrap_or("")
        .to_owned();
    if let Some(cause) = error.get("caused_by") {
        let ty = cause.get("type").and_then(|t| t.as_str()).unwrap_or("");
        let why = cause.get("reason").and_then(|r| r.as_str()).unwrap_or("");
        if !ty.is_empty() || !why.is_empty() {
            reason.push_str(&format!(" (caused by {ty}: {why})"));
        }
    }
    if reason.is_empty() {
        reason = error.to_string();
    }
    Failure::new(status, kind, reason)
}

/// The start of a body, as text, for error messages.
pub fn preview(body: &[u8]) -> String {
    const MAX: usize = 300;
    let cut = body.len().min(MAX);
    let mut s = String::from_utf8_lossy(&body[..cut]).into_owned();
    if body.len() > MAX {
        s.push('…');
    }
    if s.is_empty() {
        s.push_str("(empty body)");
    }
    s
}

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    errors: bool,
    #[serde(default)]
    items: Vec<Item>,
}

/// One item: `{"<action>": {"status": …, "error": …}}`; the action name is
/// not needed (it is the one we sent).
struct Item {
    status: u16,
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ItemBody {
    status: u16,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Item;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a bulk item: an object with one action key")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Item, A::Error> {
                let Some((_action, body)) = map.next_entry::<de::IgnoredAny, ItemBody>()? else {
                    return Err(de::Error::custom("empty bulk item"));
                };
                while map
                    .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Item {
                    status: body.status,
                    error: body.error,
                })
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_classified_in_order() {
        let body = br#"{"took":3,"errors":true,"items":[
            {"create":{"_index":"a","_id":"1","status":201,"result":"created"}},
            {"create":{"_index":"a","_id":"2","status":409,"error":{"type":"version_conflict_engine_exception","reason":"[2]: version conflict"}}},
            {"index":{"_index":"a","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [n]","caused_by":{"type":"illegal_argument_exception","reason":"For input string: \"x\""}}}},
            {"index":{"_index":"a","status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},
            {"index":{"_index":"a","status":503,"error":{"type":"unavailable_shards_exception","reason":"primary not active"}}},
            {"index":{"_index":"b","status":404,"error":{"type":"index_not_found_exception","reason":"no such index [b]"}}},
            {"index":{"_index":"a","status":200}}
        ]}"#;
        let BulkOutcome::Items(items) = classify_response(200, body, 7) else {
            panic!("expected items");
        };
        assert_eq!(items[0], ItemOutcome::Indexed);
        assert_eq!(items[1], ItemOutcome::Conflict);
        match &items[2] {
            ItemOutcome::Reject(f) => {
                assert_eq!(f.status, 400);
                assert_eq!(f.kind, "mapper_parsing_exception");
                assert!(f.reason.contains("failed to parse field [n]"), "{f}");
                assert!(f.reason.contains("For input string"), "{f}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&items[3], ItemOutcome::Retry(f) if f.status == 429));
        assert!(matches!(&items[4], ItemOutcome::Retry(f) if f.status == 503));
        assert!(
            matches!(&items[5], ItemOutcome::Reject(f) if f.kind == "index_not_found_exception")
        );
        assert_eq!(items[6], ItemOutcome::Indexed);
    }

    #[test]
    fn fast_path_and_filtered_responses() {
        let body =
            br#"{"errors":false,"items":[{"index":{"status":201}},{"create":{"status":201}}]}"#;
        assert_eq!(
            classify_response(200, body, 2),
            BulkOutcome::Items(vec![ItemOutcome::Indexed; 2])
        );
    }

    #[test]
    fn item_count_mismatch_retries_everything() {
        let body = br#"{"errors":false,"items":[{"index":{"status":201}}]}"#;
        assert!(matches!(
            classify_response(200, body, 2),
            BulkOutcome::RetryAll(f) if f.kind == "item_count_mismatch"
        ));
    }

    #[test]
    fn whole_request_statuses() {
        assert_eq!(classify_response(413, b"", 5), BulkOutcome::TooLarge);
        assert_eq!(classify_response(417, b"", 5), BulkOutcome::TooLarge);
        for s in [408, 429, 500, 502, 503, 504, 401, 403] {
            assert!(
                matches!(classify_response(s, b"{}", 1), BulkOutcome::RetryAll(_)),
                "{s}"
            );
        }
        let body = br#"{"error":{"type":"illegal_argument_exception","reason":"The bulk request must be terminated by a newline"},"status":400}"#;
        match classify_response(400, body, 1) {
            BulkOutcome::RejectAll(f) => {
                assert_eq!(f.kind, "illegal_argument_exception");
                assert!(f.reason.contains("terminated by a newline"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify_response(501, b"", 1),
            BulkOutcome::RejectAll(_)
        ));
        assert!(matches!(
            classify_response(200, b"<html>proxy</html>", 1),
            BulkOutcome::RetryAll(f) if f.kind == "invalid_response"
        ));
    }

    #[test]
    fn transient_statuses() {
        assert!(is_transient(429) && is_transient(503) && is_transient(408));
        assert!(!is_transient(400) && !is_transient(404) && !is_transient(501));
        assert!(matches!(classify_item(200, None), ItemOutcome::Indexed));
        assert!(matches!(classify_item(418, None), ItemOutcome::Reject(_)));
    }
}
