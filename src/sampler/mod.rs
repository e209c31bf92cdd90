//! Sampling schedules, presets and request validation (no MLX).
