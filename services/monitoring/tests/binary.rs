//! The monitoring binary as operators run it.

testkit::binary_conformance_tests!(env!("CARGO_BIN_EXE_monitoring"), &monitoring::SPEC);
