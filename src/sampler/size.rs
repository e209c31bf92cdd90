//! Image size rules.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Pixels per image-token side (`patch_size 2 × VAE downsampling 8`).
pub const PIXELS_PER_TOKEN: u32 = 16;
/// Smallest side the real model supports (official docs; mflux enforces it).
pub const MIN_SIDE: u32 = 256;
/// Largest side the real model supports.
pub const MAX_SIDE: u32 = 2048;
/// Largest supported ratio of the long side to the short side.
pub const MAX_ASPECT: u32 = 6;

/// Output image size in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ImageSize {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl ImageSize {
    /// A size (not validated; see [`validate_size`]).
    pub const fn new(width: u32, height: u32) -> Self {
        Self { width, height }
    }

    /// Number of image tokens `(W/16)·(H/16)` (meaningful once validated).
    pub fn tokens(&self) -> usize {
        (self.width / PIXELS_PER_TOKEN) as usize * (self.height / PIXELS_PER_TOKEN) as usize
    }
}

impl Default for ImageSize {
    /// 1024×1024, the official default.
    fn default() -> Self {
        Self::new(1024, 1024)
    }
}

impl fmt::Display for ImageSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

/// Which size rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeLimits {
    /// The real Ideogram 4 model: multiples of 16, 256–2048 per side, aspect ≤ 6:1.
    RealModel,
    /// Tiny test models and the demo model: only the multiple-of-16 rule (they are
    /// structurally the same model and run at e.g. 64×48).
    TinyModel,
}

/// Why a size was refused. Messages name the side and suggest valid values.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SizeError {
    /// A side is zero.
    #[error("{side} must be at least {PIXELS_PER_TOKEN} pixels (got 0)")]
    Zero {
        /// `"width"` or `"height"`.
        side: &'static str,
    },
    /// A side is not a multiple of 16.
    #[error(
        "{side} {value} is not a multiple of {PIXELS_PER_TOKEN} (the model works on \
         16×16-pixel patches); try {hint}"
    )]
    NotMultiple {
        /// `"width"` or `"height"`.
        side: &'static str,
        /// The refused value.
        value: u32,
        /// The nearest valid value(s), e.g. `"992 or 1008"`.
        hint: String,
    },
    /// A side is outside 256–2048 for the real model.
    #[error(
        "{side} {value} is outside the supported range {MIN_SIDE}–{MAX_SIDE} pixels for \
         Ideogram 4"
    )]
    OutOfRange {
        /// `"width"` or `"height"`.
        side: &'static str,
        /// The refused value.
        value: u32,
    },
    /// The aspect ratio exceeds 6:1 for the real model.
    #[error(
        "aspect ratio {width}x{height} is wider than the supported {MAX_ASPECT}:1 \
         (long side at most {MAX_ASPECT}× the short side)"
    )]
    Aspect {
        /// Refused width.
        width: u32,
        /// Refused height.
        height: u32,
    },
}

/// Check a size against the rules for a model.
pub fn validate_size(size: ImageSize, limits: SizeLimits) -> Result<(), SizeError> {
    for (side, value) in [("width", size.width), ("height", size.height)] {
        if value == 0 {
            return Err(SizeError::Zero { side });
        }
        if value % PIXELS_PER_TOKEN != 0 {
            let lower = value / PIXELS_PER_TOKEN * PIXELS_PER_TOKEN;
            let upper = lower + PIXELS_PER_TOKEN;
            let hint = if lower == 0 {
                upper.to_string()
            } else {
                format!("{lower} or {upper}")
            };
            return Err(SizeError::NotMultiple { side, value, hint });
        }
    }
    if limits == SizeLimits::TinyModel {
        return Ok(());
    }
    for (side, value) in [("width", size.width), ("height", size.height)] {
        if !(MIN_SIDE..=MAX_SIDE).contains(&value) {
            return Err(SizeError::OutOfRange { side, value });
        }
    }
    let (long, short) = (size.width.max(size.height), size.width.min(size.height));
    if u64::from(long) > u64::from(short) * u64::from(MAX_ASPECT) {
        return Err(SizeError::Aspect {
            width: size.width,
            height: size.height,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(w: u32, h: u32, limits: SizeLimits) -> Result<(), String> {
        validate_size(ImageSize::new(w, h), limits).map_err(|e| e.to_string())
    }

    #[test]
    fn real_model_rules() {
        use SizeLimits::RealModel as R;
        for ok in [
            (1024, 1024),
            (256, 256),
            (2048, 2048),
            (1536, 1024),
            (2048, 768),
            (1536, 256),
        ] {
            check(ok.0, ok.1, R).unwrap();
        }
        let err = check(1000, 1024, R).unwrap_err();
        assert!(
            err.contains("width 1000 is not a multiple of 16") && err.contains("992 or 1008"),
            "{err}"
        );
        let err = check(1024, 8, R).unwrap_err();
        assert!(err.contains("height 8") && err.ends_with("try 16"), "{err}");
        let err = check(240, 512, R).unwrap_err();
        assert!(
            err.contains("width 240 is outside the supported range 256–2048"),
            "{err}"
        );
        let err = check(1024, 2064, R).unwrap_err();
        assert!(err.contains("height 2064"), "{err}");
        let err = check(1552, 256, R).unwrap_err();
        assert!(err.contains("6:1"), "{err}");
        let err = check(0, 256, R).unwrap_err();
        assert!(err.contains("width must be at least 16"), "{err}");
    }

    #[test]
    fn tiny_models_skip_range_and_aspect() {
        use SizeLimits::TinyModel as T;
        check(64, 48, T).unwrap();
        check(16, 4096, T).unwrap();
        assert!(check(60, 48, T).unwrap_err().contains("multiple of 16"));
        assert!(check(64, 0, T).is_err());
    }

    #[test]
    fn token_count() {
        assert_eq!(ImageSize::new(1024, 1024).tokens(), 4096);
        assert_eq!(ImageSize::new(64, 48).tokens(), 12);
        assert_eq!(ImageSize::default().to_string(), "1024x1024");
    }
}
