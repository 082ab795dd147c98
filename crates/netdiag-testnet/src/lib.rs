//! Test harness for network-namespace scenarios.
