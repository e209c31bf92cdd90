//! Caption schema and verifier (no MLX).
