//! UTC dates and times as the Lambda APIs write them, from a [`SystemTime`] and back, without a
//! date crate: the civil date of a day count is Howard Hinnant's `civil_from_days`
//! (<https://howardhinnant.github.io/date_algorithms.html>), exact for every day after 1970.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SECONDS_PER_DAY: u64 = 86_400;

/// The UTC `(year, month, day)` of `time` (months and days from 1); a time before 1970 counts
/// as 1970-01-01.
pub fn date(time: SystemTime) -> (i64, u32, u32) {
    civil_from_days(since_epoch(time).as_secs() / SECONDS_PER_DAY)
}

/// RFC 3339 in UTC with milliseconds, `2026-01-31T12:00:00.000Z`, as function URL
/// configurations write `CreationTime` and `LastModifiedTime`.
pub fn rfc3339(time: SystemTime) -> String {
    format!("{}Z", date_and_time(time))
}

/// `LastModified` as the Lambda API writes a function configuration's:
/// `2026-01-31T12:00:00.000+0000`.
pub fn lambda_last_modified(time: SystemTime) -> String {
    format!("{}+0000", date_and_time(time))
}

/// `2026-01-31T12:00:00.000`, in UTC.
fn date_and_time(time: SystemTime) -> String {
    let since = since_epoch(time);
    let (year, month, day) = date(time);
    let rest = since.as_secs() % SECONDS_PER_DAY;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60,
        since.subsec_millis()
    )
}

/// SigV4's `X-Amz-Date`, `20260131T120000Z` (ISO 8601 basic format, UTC), as a time; `None`
/// for anything else, or a date before 1970.
pub fn parse_amz_date(text: &str) -> Option<SystemTime> {
    if text.len() != 16 || text.as_bytes()[8] != b'T' || !text.ends_with('Z') {
        return None;
    }
    let number = |range| digits(text, range);
    let seconds = civil_seconds(
        (number(0..4)?, number(4..6)?, number(6..8)?),
        (number(9..11)?, number(11..13)?, number(13..15)?),
    )?;
    Some(UNIX_EPOCH + Duration::from_secs(seconds))
}

/// `text[range]` as a number, when it is there and all ASCII digits.
fn digits(text: &str, range: std::ops::Range<usize>) -> Option<u64> {
    let part = text.get(range)?;
    part.bytes()
        .all(|byte| byte.is_ascii_digit())
        .then(|| part.parse().ok())
        .flatten()
}

/// Seconds since 1970 of a civil date and time in UTC; `None` when a field is out of its range
/// (a leap second allowed) or the date is before 1970.
fn civil_seconds(
    (year, month, day): (u64, u64, u64),
    (hour, minute, second): (u64, u64, u64),
) -> Option<u64> {
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day)?;
    Some(days * SECONDS_PER_DAY + hour * 3_600 + minute * 60 + second)
}

/// An RFC 3339 date and time, `2026-01-31T12:00:00Z`, `2026-01-31T12:00:00.250+01:00` (a
/// fraction of any length, `Z` or an offset; `T`, `t` or a space between date and time), as a
/// time; `None` for anything else, or a time before 1970.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let bytes = text.as_bytes();
    if bytes.len() < 20
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b'T' | b't' | b' ')
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    let number = |range| digits(text, range);
    let local = civil_seconds(
        (number(0..4)?, number(5..7)?, number(8..10)?),
        (number(11..13)?, number(14..16)?, number(17..19)?),
    )?;
    // The fraction, then the offset.
    let mut rest = &text[19..];
    let mut nanos = 0u32;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        // Nanoseconds: the first nine digits, padded.
        let kept = &fraction[..digits.min(9)];
        nanos = kept.parse::<u32>().ok()? * 10u32.pow(9 - kept.len() as u32);
        rest = &fraction[digits..];
    }
    let offset_seconds: i64 = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let hours = rest.get(1..3)?.parse::<i64>().ok()?;
            let minutes = rest.get(4..6)?.parse::<i64>().ok()?;
            if !rest[1..3]
                .bytes()
                .chain(rest[4..6].bytes())
                .all(|b| b.is_ascii_digit())
                || hours > 23
                || minutes > 59
            {
                return None;
            }
            let offset = hours * 3_600 + minutes * 60;
            if *sign == b'+' { offset } else { -offset }
        }
        _ => return None,
    };
    let utc = u64::try_from(local as i64 - offset_seconds).ok()?;
    Some(UNIX_EPOCH + Duration::new(utc, nanos))
}

fn since_epoch(time: SystemTime) -> Duration {
    time.duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Days since 1970-01-01 to a civil date.
pub(crate) fn civil_from_days(days: u64) -> (i64, u32, u32) {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // Both are in range by construction: a day of 1 to 31, a month of 1 to 12.
    (year, narrow(month), narrow(day))
}

/// A civil date to days since 1970-01-01 (Hinnant's `days_from_civil`); `None` before 1970.
pub(crate) fn days_from_civil(year: u64, month: u64, day: u64) -> Option<u64> {
    let year = year - u64::from(month <= 2);
    let era = year / 400;
    let year_of_era = year - era * 400;
    let month_index = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    (era * 146_097 + day_of_era).checked_sub(719_468)
}

fn narrow(value: i64) -> u32 {
    u32::try_from(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(seconds * 1_000 + 42)
    }

    #[test]
    fn last_modified_is_written_as_lambda_writes_it() {
        assert_eq!(lambda_last_modified(at(0)), "1970-01-01T00:00:00.042+0000");
        // 2024-02-29 (a leap day) 13:45:10 UTC.
        assert_eq!(
            lambda_last_modified(at(1_709_214_310)),
            "2024-02-29T13:45:10.042+0000"
        );
        // 2000-03-01 00:00:00 UTC, after a century's leap day.
        assert_eq!(
            lambda_last_modified(at(951_868_800)),
            "2000-03-01T00:00:00.042+0000"
        );
    }

    #[test]
    fn rfc3339_and_dates_agree() {
        assert_eq!(rfc3339(at(1_767_268_800)), "2026-01-01T12:00:00.042Z");
        assert_eq!(date(at(1_767_268_800)), (2026, 1, 1));
        assert_eq!(date(at(1_709_214_310)), (2024, 2, 29));
        assert_eq!(date(UNIX_EPOCH - Duration::from_secs(1)), (1970, 1, 1));
    }

    #[test]
    fn rfc3339_times_are_read() {
        let read = |text: &str| {
            parse_rfc3339(text).map(|time| time.duration_since(UNIX_EPOCH).unwrap().as_millis())
        };
        assert_eq!(read("2024-02-29T13:45:10Z"), Some(1_709_214_310_000));
        assert_eq!(read("2024-02-29t13:45:10.042z"), Some(1_709_214_310_042));
        assert_eq!(read("2024-02-29 13:45:10.5Z"), Some(1_709_214_310_500));
        assert_eq!(
            read("2024-02-29T14:45:10.123456789+01:00"),
            Some(1_709_214_310_123)
        );
        assert_eq!(read("2024-02-29T12:15:10-01:30"), Some(1_709_214_310_000));
        assert_eq!(read(&rfc3339(at(1_767_268_800))), Some(1_767_268_800_042));
        for wrong in [
            "2024-02-29",
            "2024-02-29T13:45:10",
            "2024-02-29T13:45:10.Z",
            "2024-13-29T13:45:10Z",
            "2024-02-29T24:45:10Z",
            "2024-02-29T13:45:10+0100",
            "2024-02-29T13:45:10+01:0x",
            "1969-12-31T23:59:59Z",
            "1970-01-01T00:30:00+01:00",
            "20240229T134510Z",
        ] {
            assert_eq!(read(wrong), None, "{wrong}");
        }
    }

    #[test]
    fn amz_dates_are_read() {
        let read = |text| {
            parse_amz_date(text).map(|time| time.duration_since(UNIX_EPOCH).unwrap().as_secs())
        };
        assert_eq!(read("20150830T123600Z"), Some(1_440_938_160));
        assert_eq!(read("20240229T134510Z"), Some(1_709_214_310));
        assert_eq!(read("19700101T000000Z"), Some(0));
        for wrong in [
            "2015-08-30T12:36:00Z",
            "20150830T123600",
            "20151330T123600Z",
            "20150830T253600Z",
            "2015083OT123600Z",
            "19690101T000000Z",
            "+0150830T123600Z",
        ] {
            assert_eq!(read(wrong), None, "{wrong}");
        }
    }
}
