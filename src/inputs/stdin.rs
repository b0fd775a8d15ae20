//! `stdin`: reads standard input to its end; the pipeline then drains and
//! weir exits 0.

use serde::Deserialize;
use tracing::{info, warn};

use super::reader::{read_stream, Untracked};
use super::{InputConfig, InputContext, InputTask};
use crate::codecs::{FrameDecoder, Framing, Oversize};
use crate::event::Event;

fn default_max_line_bytes() -> usize {
    1024 * 1024
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdinConfig {
    #[serde(default)]
    pub framing: Framing,
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    #[serde(default)]
    pub on_oversize: Oversize,
}

impl InputConfig for StdinConfig {
    fn build(&self, cx: InputContext) -> anyhow::Result<InputTask> {
        let config = self.clone();
        Ok(Box::pin(async move {
            let decoder =
                FrameDecoder::new(config.framing, config.max_line_bytes, config.on_oversize);
            let mut sink = Untracked::new(&cx.out, |frame, now| Event::new(frame.bytes, now));
            let result = read_stream(tokio::io::stdin(), decoder, &cx.shutdown, &mut sink).await;
            match result {
                Ok((_, stats)) => {
                    if stats.oversized_rejected > 0 {
                        warn!(input = %cx.name, rejected = stats.oversized_rejected,
                            "lines longer than max_line_bytes were skipped");
                    }
                    info!(input = %cx.name, events = stats.events, bytes = stats.bytes, "stdin finished");
                    Ok(())
                }
                Err((e, _)) => Err(anyhow::anyhow!("input `{}`: reading stdin: {e}", cx.name)),
            }
        }))
    }
}
