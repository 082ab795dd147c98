//! Prometheus durations (`model.ParseDuration`): `1h30m`, `500ms`, `10s`, units y w d h m s ms.
