//! S3 event notifications as they arrive in an SQS message body: direct
//! (`{"Records":[…]}`), wrapped in an SNS envelope (`"Type":"Notification"`
//! with the S3 JSON as the `Message` string), or as an EventBridge event
//! (`"source":"aws.s3"`, `"detail-type":"Object Created"`). The `s3:TestEvent`
//! S3 sends when a notification configuration is saved is recognised so it
//! can be deleted without noise.
//!
//! Keys in direct records are form-URL-encoded (`+` for a space, `%XX`
//! otherwise; moto encodes `/` too), EventBridge keys are not.

use serde_json::Value as Json;

/// One object a notification says was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub bucket: String,
    /// The decoded key, as stored in S3.
    pub key: String,
}

/// What a message body means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// `s3:TestEvent`: no data; delete it.
    Test,
    /// Created objects to read (possibly none: a notification about deletes,
    /// or an EventBridge event of another kind, carries nothing to read).
    Objects(Vec<ObjectRef>),
}

/// Classifies and parses a message body (s3-notifications.md §1). An error
/// names what was wrong: the message is a poison message.
pub fn parse(body: &str) -> Result<Notification, String> {
    let json: Json =
        serde_json::from_str(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    parse_value(&json, true)
}

fn parse_value(json: &Json, may_unwrap: bool) -> Result<Notification, String> {
    if !json.is_object() {
        return Err("the body is not a JSON object".into());
    }
    if may_unwrap && json["Type"] == "Notification" {
        if let Some(message) = json["Message"].as_str() {
            let inner: Json = serde_json::from_str(message)
                .map_err(|e| format!("the SNS Message is not JSON: {e}"))?;
            return parse_value(&inner, false);
        }
    }
    if json["Event"] == "s3:TestEvent" {
        return Ok(Notification::Test);
    }
    if let Some(records) = json["Records"].as_array() {
        let mut objects = Vec::with_capacity(records.len());
        for (i, record) in records.iter().enumerate() {
            if let Some(object) = direct_record(record).map_err(|e| format!("record {i}: {e}"))? {
                objects.push(object);
            }
        }
        return Ok(Notification::Objects(objects));
    }
    if json["source"] == "aws.s3" && json.get("detail-type").is_some() {
        return eventbridge(json);
    }
    Err(
        "neither an S3 event notification (Records), an S3 test event, an SNS \
         envelope nor an EventBridge S3 event"
            .into(),
    )
}

/// A record of a direct notification; `None` for records that are not
/// object creations of event structure 2.x.
fn direct_record(record: &Json) -> Result<Option<ObjectRef>, String> {
    if record["eventSource"] != "aws:s3" {
        return Ok(None);
    }
    let name = record["eventName"].as_str().unwrap_or_default();
    if !name.starts_with("ObjectCreated:") {
        return Ok(None);
    }
    let version = record["eventVersion"].as_str().unwrap_or_default();
    if version.split('.').next() != Some("2") {
        return Ok(None);
    }
    let bucket = record["s3"]["bucket"]["name"]
        .as_str()
        .ok_or("no s3.bucket.name")?;
    let encoded = record["s3"]["object"]["key"]
        .as_str()
        .ok_or("no s3.object.key")?;
    let key = decode_key(encoded)?;
    Ok(Some(ObjectRef {
        bucket: bucket.to_owned(),
        key,
    }))
}

fn eventbridge(json: &Json) -> Result<Notification, String> {
    if json["detail-type"] != "Object Created" {
        return Ok(Notification::Objects(Vec::new()));
    }
    let detail = &json["detail"];
    let bucket = detail["bucket"]["name"]
        .as_str()
        .ok_or("EventBridge event without detail.bucket.name")?;
    let key = detail["object"]["key"]
        .as_str()
        .ok_or("EventBridge event without detail.object.key")?;
    Ok(Notification::Objects(vec![ObjectRef {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
    }]))
}

/// Decodes a form-URL-encoded key exactly once: `+` becomes a space first,
/// then `%XX` sequences become bytes, then the whole must be UTF-8. (Decoding
/// `%2B` first would turn a literal `+` into a space.)
pub fn decode_key(encoded: &str) -> Result<String, String> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("key `{encoded}`: bad percent-escape at byte {i}"))?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| format!("key `{encoded}` does not decode to UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(n: Notification) -> Vec<(String, String)> {
        match n {
            Notification::Objects(v) => v.into_iter().map(|o| (o.bucket, o.key)).collect(),
            Notification::Test => panic!("unexpected test event"),
        }
    }

    const DIRECT: &str = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"eu-west-1",
 "eventTime":"2024-05-01T10:15:30.123Z","eventName":"ObjectCreated:CompleteMultipartUpload",
 "s3":{"s3SchemaVersion":"1.0","configurationId":"logs-to-sqs",
  "bucket":{"name":"acme-logs","arn":"arn:aws:s3:::acme-logs"},
  "object":{"key":"exports/app+logs/2024-05-01T10%3A15%3A00.log.gz","size":48213}}}]}"#;

    #[test]
    fn direct_records_are_decoded() {
        let got = objects(parse(DIRECT).unwrap());
        assert_eq!(
            got,
            [(
                "acme-logs".to_string(),
                "exports/app logs/2024-05-01T10:15:00.log.gz".to_string()
            )]
        );
    }

    #[test]
    fn sns_envelopes_are_unwrapped() {
        let body = serde_json::json!({
            "Type": "Notification",
            "MessageId": "x",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
            "Message": DIRECT,
            "Timestamp": "2024-05-01T10:15:31.000Z",
        })
        .to_string();
        assert_eq!(objects(parse(&body).unwrap()).len(), 1);
        // A test event forwarded through SNS is still a test event.
        let test = serde_json::json!({
            "Type": "Notification",
            "Message": r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2024-05-01T10:00:00.000Z","Bucket":"acme-logs"}"#,
        })
        .to_string();
        assert_eq!(parse(&test).unwrap(), Notification::Test);
    }

    #[test]
    fn eventbridge_object_created_only() {
        let body = r#"{"version":"0","id":"1","detail-type":"Object Created","source":"aws.s3",
            "account":"1","time":"2024-05-01T10:15:30Z","region":"eu-west-1","resources":[],
            "detail":{"version":"0","bucket":{"name":"acme-logs"},
            "object":{"key":"raw/a b+c.log","size":5,"etag":"e"},"reason":"PutObject"}}"#;
        assert_eq!(
            objects(parse(body).unwrap()),
            [("acme-logs".to_string(), "raw/a b+c.log".to_string())]
        );
        let tags = body.replace("Object Created", "Object Tags Added");
        assert!(objects(parse(&tags).unwrap()).is_empty());
    }

    #[test]
    fn test_events_and_non_creations() {
        let test = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2024-05-01T10:00:00.000Z","Bucket":"acme-logs","RequestId":"5582815E1AEA5ADF"}"#;
        assert_eq!(parse(test).unwrap(), Notification::Test);
        let delete = DIRECT.replace(
            "ObjectCreated:CompleteMultipartUpload",
            "ObjectRemoved:Delete",
        );
        assert!(objects(parse(&delete).unwrap()).is_empty());
        let v1 = DIRECT.replace("\"2.1\"", "\"1.0\"");
        assert!(objects(parse(&v1).unwrap()).is_empty());
    }

    #[test]
    fn poison_messages_are_errors() {
        assert!(parse("not json").unwrap_err().contains("not JSON"));
        assert!(parse(r#"{"hello":1}"#).unwrap_err().contains("neither"));
        assert!(parse("[1]").is_err());
        let no_key = DIRECT.replace("\"key\"", "\"k\"");
        assert!(parse(&no_key).unwrap_err().contains("s3.object.key"));
    }

    #[test]
    fn keys_decode_plus_before_percent() {
        // The table of s3-notifications.md §2.2, AWS and moto forms.
        let cases = [
            ("logs/my+file.log", "logs/my file.log"),
            ("logs%2Fmy+file.log", "logs/my file.log"),
            ("this+im+%2B+age+blah.txt", "this im + age blah.txt"),
            (
                "year%3D2021/month%3D02/data.jsonl",
                "year=2021/month=02/data.jsonl",
            ),
            (
                "year%3D2021%2Fmonth%3D02%2Fdata.jsonl",
                "year=2021/month=02/data.jsonl",
            ),
            ("dir/%C3%BC%E2%82%AC.gz", "dir/ü€.gz"),
            ("100%25", "100%"),
        ];
        for (encoded, key) in cases {
            assert_eq!(decode_key(encoded).unwrap(), key, "{encoded}");
        }
        assert!(decode_key("bad%2").is_err());
        assert!(decode_key("bad%zz").is_err());
        assert!(decode_key("%FF").unwrap_err().contains("UTF-8"));
    }
}
