//! Feeds arbitrary bytes to the Lumberjack decoder, in arbitrary read sizes,
//! then through window assembly, event mapping and ACK bookkeeping. Nothing
//! may panic, allocate past the limits, or hand on a window it did not
//! complete.
//!
//! `cargo fuzz run lumberjack` (from the repository root, nightly toolchain).
#![no_main]

use std::time::Instant;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;
use weir::codecs::acker::Acker;
use weir::codecs::beats_event::{frame_event, EventOptions};
use weir::codecs::lumberjack::{Limits, LumberjackCodec};
use weir::codecs::window::WindowAssembler;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the read size, so frames straddle reads.
    let Some((&chunk, data)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let limits = Limits {
        max_frame_bytes: 1 << 16,
        max_decompressed_bytes: 1 << 20,
        max_window_size: 1024,
    };
    let mut codec = LumberjackCodec::new(limits);
    let mut assembler = WindowAssembler::new();
    let mut acker = Acker::new();
    let options = EventOptions::default();
    let mut buf = BytesMut::new();
    'read: for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => {
                    if assembler.push(frame).is_err() {
                        break 'read;
                    }
                }
                Ok(None) => break,
                Err(_) => break 'read,
            }
            while let Some(window) = assembler.pop_ready() {
                assert!(window.frames.len() as u64 <= u64::from(window.declared));
                let seq = window.ack_seq();
                let open = acker.open_window(window.version, Instant::now());
                let ticket = acker.add_batch(&open);
                for frame in window.frames {
                    assert!(frame_event(frame, chrono::Utc::now(), &options).is_some());
                }
                acker.seal(open, seq);
                acker.complete(ticket);
                let ack = acker.next_ack().expect("a completed window is acknowledged");
                assert_eq!(ack.seq, seq);
            }
        }
    }
    let _ = codec.decode_eof(&mut buf);
    let _ = assembler.finish();
});
