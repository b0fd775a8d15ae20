//! Which keys hold log data, and what a CloudWatch Logs export key says.
//!
//! An export task writes `<prefix>/<folder>/<log-stream>/NNNNNN.gz`, where
//! the folder is the task id on AWS and a fresh id per stream on moto (both
//! UUIDs), plus a `aws-logs-write-test` marker that is not log data. Stream
//! names may contain `/` on AWS, so the stream is everything between the
//! folder and the file name.

/// The export task's permission-check object (no log data).
const WRITE_TEST: &str = "aws-logs-write-test";

/// Whether the key is the export permission-check marker.
pub fn is_write_test(key: &str) -> bool {
    key.rsplit('/')
        .next()
        .unwrap_or(key)
        .starts_with(WRITE_TEST)
}

/// A folder marker (`dir/`) created by consoles and some tools: no data.
pub fn is_folder_marker(key: &str) -> bool {
    key.ends_with('/')
}

/// The log stream of an export object key under `prefix`, or `None` when
/// the key does not have the export layout.
pub fn export_stream<'k>(prefix: &str, key: &'k str) -> Option<&'k str> {
    let rest = key.strip_prefix(prefix).unwrap_or(key);
    let rest = rest.trim_start_matches('/');
    let segments: Vec<&str> = rest.split('/').collect();
    let file = segments.last()?;
    let number = file.strip_suffix(".gz")?;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // The folder is the first UUID-shaped segment (robust to a `prefix`
    // option that stops short of the export's own prefix), else the first.
    let body = &segments[..segments.len() - 1];
    let folder = body.iter().position(|s| is_uuid(s)).unwrap_or(0);
    let stream = &body.get(folder + 1..)?;
    if stream.is_empty() {
        return None;
    }
    // Borrow the stream's text straight from the key.
    let first = stream[0];
    let start = first.as_ptr() as usize - key.as_ptr() as usize;
    let end = file.as_ptr() as usize - key.as_ptr() as usize - 1;
    key.get(start..end)
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_test_markers() {
        assert!(is_write_test("aws-logs-write-test"));
        assert!(is_write_test("exportedlogs/aws-logs-write-test"));
        assert!(!is_write_test("exportedlogs/x/aws-logs/000000.gz"));
        assert!(is_folder_marker("logs/"));
        assert!(!is_folder_marker("logs/a"));
    }

    #[test]
    fn aws_export_keys() {
        let key =
            "development/2021-04-21/23db5787-2889-4601-873a-99e4fa09456d/i-0377be99224f/000000.gz";
        assert_eq!(
            export_stream("development/2021-04-21", key),
            Some("i-0377be99224f")
        );
        assert_eq!(
            export_stream("development/2021-04-21/", key),
            Some("i-0377be99224f")
        );
        // A prefix that stops short still finds the task id.
        assert_eq!(export_stream("", key), Some("i-0377be99224f"));
        // Stream names with slashes (Lambda).
        let lambda = "exp/23db5787-2889-4601-873a-99e4fa09456d/2024/01/01/[$LATEST]abc/000012.gz";
        assert_eq!(
            export_stream("exp/", lambda),
            Some("2024/01/01/[$LATEST]abc")
        );
    }

    #[test]
    fn moto_export_keys_and_non_exports() {
        let moto = "exports/6b0c5c0e-7ed6-4b5c-9a53-1f0f4f4f8a0e/app-stream-1/000000.gz";
        assert_eq!(export_stream("exports", moto), Some("app-stream-1"));
        // Not a task id folder: the first segment is taken as the folder.
        assert_eq!(export_stream("p", "p/task1/s/000001.gz"), Some("s"));
        assert_eq!(export_stream("p", "p/task1/000001.gz"), None);
        assert_eq!(export_stream("p", "p/task1/s/notes.txt"), None);
        assert_eq!(export_stream("p", "p/task1/s/.gz"), None);
        assert_eq!(export_stream("", "aws-logs-write-test"), None);
    }
}
