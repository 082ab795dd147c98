//! What every prober shares: address selection as blackbox does it (`preferred_ip_protocol`,
//! `ip_protocol_fallback`, `probe_ip_addr_hash`), and netdiag's verdict series from a report.
