//! Whole Beats sessions through the protocol layer: frames → windows →
//! events → ACKs, as the `beats` input will drive it.
//!
//! The pylogbeat session is real: `tests/data/capture_pylogbeat.py` recorded
//! what pylogbeat 2.1.0 wrote to a loopback server (which answered each
//! window with a keepalive and then its final ACK).

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use chrono::Utc;
use weir::codecs::acker::Acker;
use weir::codecs::beats_event::{frame_event, EventOptions, TAG_CODEC_APPLIED};
use weir::codecs::lumberjack::{
    encode_compressed, encode_frame, AckFrame, Frame, LumberjackCodec, Version,
};
use weir::codecs::window::{Window, WindowReader};
use weir::event::{Event, Path, Value};

/// Reads every window from `wire`, turns it into events handed on in
/// batches of `batch`, completes the batches in reverse order and returns
/// the events and the ACKs sent, in order.
async fn run_session(wire: &[u8], batch: usize) -> (Vec<Vec<Event>>, Vec<AckFrame>) {
    let mut reader = WindowReader::from_reader(wire, LumberjackCodec::default());
    let mut acker = Acker::new();
    let mut windows = Vec::new();
    let mut acks = Vec::new();
    let options = EventOptions::default();
    while let Some(window) = reader.next_window().await.expect("valid session") {
        let Window {
            version, frames, ..
        } = window.clone();
        let events: Vec<Event> = frames
            .into_iter()
            .filter_map(|f| frame_event(f, Utc::now(), &options))
            .collect();
        let open = acker.open_window(version, Instant::now());
        let mut tickets: Vec<_> = events
            .chunks(batch)
            .map(|_| acker.add_batch(&open))
            .collect();
        acker.seal(open, window.ack_seq());
        assert_eq!(
            acker.keepalive().is_some(),
            version == Version::V2 && !tickets.is_empty()
        );
        while let Some(ticket) = tickets.pop() {
            assert_eq!(acker.next_ack(), None, "ACK before every batch completed");
            acker.complete(ticket);
        }
        while let Some(ack) = acker.next_ack() {
            acks.push(ack);
        }
        windows.push(events);
    }
    (windows, acks)
}

fn get(event: &Event, path: &str) -> Option<Value> {
    event.get(&Path::parse(path).unwrap())
}

#[tokio::test]
async fn captured_pylogbeat_session() {
    let wire = std::fs::read("tests/data/pylogbeat-2.1.0-session.bin").unwrap();
    let captured: Vec<String> = std::fs::read_to_string("tests/data/pylogbeat-2.1.0-session.acks")
        .unwrap()
        .lines()
        .filter(|l| *l != "324100000000") // the capture server's keepalives
        .map(str::to_owned)
        .collect();

    let (windows, acks) = run_session(&wire, 128).await;

    let hex: Vec<String> = acks
        .iter()
        .map(|a| a.to_bytes().iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    assert_eq!(hex, captured);
    // Running sequence numbers: the ACKs are the last seqs, not the counts.
    assert_eq!(
        acks.iter().map(|a| a.seq).collect::<Vec<_>>(),
        vec![1, 3, 303]
    );

    assert_eq!(
        windows.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![1, 2, 300]
    );
    assert_eq!(windows[0][0].message, Bytes::from_static(b"hi"));
    assert_eq!(windows[1][1].message, Bytes::from_static(b"yo"));
    let e = &windows[2][7];
    assert_eq!(
        e.message,
        Bytes::from("event 7: caf\u{e9} \u{2603} \"quoted\" \\ tab\t xxxxxxx")
    );
    // pylogbeat-style `@timestamp` without a zone is read as UTC.
    assert_eq!(e.timestamp.to_rfc3339(), "2024-05-01T12:00:07.008638+00:00");
    assert_eq!(get(e, "host"), Some(Value::from("app-0")));
    assert_eq!(get(e, "extra.n"), Some(Value::Int(7)));
    assert_eq!(get(e, "extra.ok"), Some(Value::Bool(false)));
    assert_eq!(get(e, "extra.none"), Some(Value::Null));
    assert!(e.has_tag(TAG_CODEC_APPLIED));
}

/// Filebeat: zlib level 3 (header `78 5e`), seq 1…n in every window, two
/// windows on the wire before the first is acknowledged (pipelining), and a
/// window whose frames span a `C` and bare `J` frames.
#[tokio::test]
async fn filebeat_style_session() {
    let doc = |i: u32| {
        Bytes::from(format!(
            r#"{{"@timestamp":"2024-05-01T12:00:00.{i:03}Z","@metadata":{{"beat":"filebeat","type":"_doc","version":"8.13.4"}},"message":"line {i}","log":{{"offset":{}}},"host":{{"name":"web-1"}},"agent":{{"type":"filebeat"}}}}"#,
            i * 100
        ))
    };
    let mut wire = BytesMut::new();
    for (n, split) in [(2048u32, None), (10, None), (5, Some(3usize))] {
        encode_frame(
            &Frame::WindowSize {
                version: Version::V2,
                count: n,
            },
            Version::V2,
            &mut wire,
        );
        let frames: Vec<Frame> = (1..=n)
            .map(|seq| Frame::Json {
                seq,
                payload: doc(seq),
            })
            .collect();
        let (compressed, bare) = frames.split_at(split.unwrap_or(frames.len()));
        let mut inner = BytesMut::new();
        for f in compressed {
            encode_frame(f, Version::V2, &mut inner);
        }
        let at = wire.len();
        encode_compressed(&inner, 3, Version::V2, &mut wire);
        assert_eq!(&wire[at + 6..at + 8], &[0x78, 0x5e]);
        for f in bare {
            encode_frame(f, Version::V2, &mut wire);
        }
    }

    let (windows, acks) = run_session(&wire, 512).await;
    assert_eq!(
        acks,
        [2048, 10, 5]
            .map(|seq| AckFrame {
                version: Version::V2,
                seq
            })
            .to_vec()
    );
    let e = &windows[0][41];
    assert_eq!(e.message, Bytes::from_static(b"line 42"));
    assert_eq!(e.timestamp.to_rfc3339(), "2024-05-01T12:00:00.042+00:00");
    assert_eq!(get(e, "@metadata.beat"), Some(Value::from("filebeat")));
    assert_eq!(get(e, "log.offset"), Some(Value::Int(4200)));
    assert_eq!(windows[2].len(), 5);
}

/// A v1 (logstash-forwarder) session: `1W` + `1D` frames, ACKs with `'1'`.
#[tokio::test]
async fn v1_session() {
    let mut wire = BytesMut::new();
    encode_frame(
        &Frame::WindowSize {
            version: Version::V1,
            count: 2,
        },
        Version::V1,
        &mut wire,
    );
    for seq in [1u32, 2] {
        let pairs = vec![
            (Bytes::from("file"), Bytes::from("/var/log/syslog")),
            (Bytes::from("line"), Bytes::from(format!("hello {seq}"))),
        ];
        encode_frame(&Frame::Data { seq, pairs }, Version::V1, &mut wire);
    }
    let (windows, acks) = run_session(&wire, 1).await;
    assert_eq!(acks[0].to_bytes(), [b'1', b'A', 0, 0, 0, 2]);
    assert_eq!(windows[0][1].message, Bytes::from_static(b"hello 2"));
    assert_eq!(
        get(&windows[0][1], "file"),
        Some(Value::from("/var/log/syslog"))
    );
}
