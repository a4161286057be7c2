//! Shared by the tests of this crate.

/// Logs to the test's output when `RUST_LOG` asks for it.
pub fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
