# Environment for tests: the provisioned Python venv first on PATH.
# Sourced by scripts/test; source it yourself to run `cargo test` by hand.
_weir_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -d "$_weir_root/.venv/bin" ]; then
  export PATH="$_weir_root/.venv/bin:$PATH"
fi
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
unset _weir_root
