//! Wall-clock time broken into calendar fields, for file names and history entries.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A calendar date and time with its UTC offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timestamp {
    /// Seconds since the Unix epoch (UTC).
    pub unix_seconds: i64,
    /// Offset of the local time zone from UTC, in seconds (east positive).
    pub utc_offset_seconds: i32,
}

/// Calendar fields of a [`Timestamp`] in its own time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CivilTime {
    /// Year, e.g. 2025.
    pub year: i64,
    /// Month 1–12.
    pub month: u32,
    /// Day of month 1–31.
    pub day: u32,
    /// Hour 0–23.
    pub hour: u32,
    /// Minute 0–59.
    pub minute: u32,
    /// Second 0–59.
    pub second: u32,
}

impl Timestamp {
    /// Now, in the machine's local time zone (UTC where the zone cannot be determined).
    pub fn now_local() -> Self {
        let unix_seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Self {
            unix_seconds,
            utc_offset_seconds: local_utc_offset(unix_seconds),
        }
    }

    /// A fixed instant with an explicit offset (tests, replays).
    pub fn new(unix_seconds: i64, utc_offset_seconds: i32) -> Self {
        Self {
            unix_seconds,
            utc_offset_seconds,
        }
    }

    /// Calendar fields in this timestamp's zone.
    pub fn civil(&self) -> CivilTime {
        let local = self.unix_seconds + i64::from(self.utc_offset_seconds);
        let days = local.div_euclid(86_400);
        let secs = local.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        CivilTime {
            year,
            month,
            day,
            hour: secs / 3600,
            minute: secs / 60 % 60,
            second: secs % 60,
        }
    }

    /// `YYYY-MM-DD`.
    pub fn date_string(&self) -> String {
        let c = self.civil();
        format!("{:04}-{:02}-{:02}", c.year, c.month, c.day)
    }

    /// `HHMMSS` (no colons: it goes into file names).
    pub fn time_string(&self) -> String {
        let c = self.civil();
        format!("{:02}{:02}{:02}", c.hour, c.minute, c.second)
    }

    /// RFC 3339, e.g. `2025-11-23T14:05:09+01:00`.
    pub fn rfc3339(&self) -> String {
        let c = self.civil();
        let off = self.utc_offset_seconds;
        let sign = if off < 0 { '-' } else { '+' };
        let off = off.unsigned_abs();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}{:02}:{:02}",
            c.year,
            c.month,
            c.day,
            c.hour,
            c.minute,
            c.second,
            sign,
            off / 3600,
            off / 60 % 60
        )
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The local zone's UTC offset at an instant, from the C library (honours `TZ`).
#[cfg(unix)]
fn local_utc_offset(unix_seconds: i64) -> i32 {
    let Some(t) = libc::time_t::try_from(unix_seconds).ok() else {
        return 0;
    };
    // SAFETY: localtime_r only writes into the `tm` we own and reads `t`; a zeroed `tm` is a
    // valid value of this plain C struct. (It may call tzset, which reads the environment;
    // this program never modifies its environment after start-up.)
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return 0;
        }
        i32::try_from(tm.tm_gmtoff).unwrap_or(0)
    }
}

#[cfg(not(unix))]
fn local_utc_offset(_unix_seconds: i64) -> i32 {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        // 2000-03-01 00:00:00 UTC (just after a leap day in a century leap year).
        let t = Timestamp::new(951_868_800, 0);
        assert_eq!(t.date_string(), "2000-03-01");
        assert_eq!(t.time_string(), "000000");
        // 2025-11-23 02:34:56 UTC, shown at +01:00 and -05:30.
        let t = Timestamp::new(1_763_865_296, 3600);
        assert_eq!(t.rfc3339(), "2025-11-23T03:34:56+01:00");
        let t = Timestamp::new(1_763_865_296, -(5 * 3600 + 1800));
        assert_eq!(t.rfc3339(), "2025-11-22T21:04:56-05:30");
        assert_eq!(t.date_string(), "2025-11-22");
        assert_eq!(t.time_string(), "210456");
        // Before the epoch.
        assert_eq!(Timestamp::new(-1, 0).rfc3339(), "1969-12-31T23:59:59+00:00");
    }

    #[test]
    fn day_conversion_is_consistent_over_centuries() {
        let mut prev = civil_from_days(-800_000);
        for d in -799_999..800_000 {
            let cur = civil_from_days(d);
            let next_day = prev.2 + 1 == cur.2 && prev.1 == cur.1 && prev.0 == cur.0;
            let next_month = cur.2 == 1 && (cur.1 == prev.1 + 1 || (cur.1 == 1 && prev.1 == 12));
            assert!(next_day || next_month, "{prev:?} -> {cur:?}");
            prev = cur;
        }
    }
}
