//! EventBridge schedules (`triggers.schedule`), evaluated here in UTC: `rate(N unit)` fires
//! every N minutes, hours or days from when serve starts (as a rule does from its creation),
//! `cron(minutes hours day-of-month month day-of-week year)` at each minute it names (AWS
//! "Schedule expressions for rules": `*`, `?`, lists, ranges, `/` steps, month and day
//! names, `L` (last day of the month, or `5L` its last Thursday), `W` (nearest weekday),
//! `LW` and `#` (`2#1`: the first Monday)). Each firing is an asynchronous invocation of the
//! function, as EventBridge's, with the scheduled event (or the trigger's `input`).
//!
//! `serve --fire-schedules` also fires each schedule once as serve starts, so that a
//! `rate(1 day)` or a nightly `cron` can be seen at work without waiting for it.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::Setting;
use crate::emulator::{Emulator, Trigger};
use crate::events::{EventBridgeEvent, eventbridge_event};
use crate::time::{civil_from_days, days_from_civil};

const MINUTE: u64 = 60;
const DAY: u64 = 86_400;
/// How far ahead a cron expression is searched for its next minute (one that names none
/// within it, such as `cron(0 0 30 2 ? *)`, never fires).
const HORIZON_DAYS: u64 = 366 * 5;

/// A schedule expression, read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Schedule {
    /// `rate(...)`.
    Rate(Duration),
    /// `cron(...)`.
    Cron(Box<Cron>),
}

/// A cron expression's fields, each as the values it allows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cron {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    days: Days,
    months: Vec<bool>,
    weekdays: Weekdays,
    /// `None`: every year.
    years: Option<Vec<u32>>,
}

/// The day-of-month field.
#[derive(Debug, Clone, PartialEq)]
enum Days {
    /// `?`: the day-of-week field decides.
    Any,
    /// Days 1 to 31.
    Listed(Vec<bool>),
    /// `L`: the last day of the month.
    Last,
    /// `15W`: the weekday nearest the 15th, within the month.
    NearestWeekday(u32),
    /// `LW`: the month's last weekday.
    LastWeekday,
}

/// The day-of-week field, days 1 (Sunday) to 7 (Saturday).
#[derive(Debug, Clone, PartialEq)]
enum Weekdays {
    /// `?`: the day-of-month field decides.
    Any,
    Listed(Vec<bool>),
    /// `6L`: the month's last Friday.
    Last(u32),
    /// `2#1`: the month's first Monday.
    Nth(u32, u32),
}

impl Schedule {
    /// `expression` read, as the settings check it (`settings::schedule_expression`).
    ///
    /// # Errors
    ///
    /// What part of it is not understood.
    pub(crate) fn parse(expression: &str) -> Result<Self, String> {
        if let Some(rate) = inside(expression, "rate(") {
            let (value, unit) = rate.split_once(' ').unwrap_or((rate, ""));
            let value: u64 = value.parse().map_err(|_| format!("`{expression}`"))?;
            let unit = match unit.trim_end_matches('s') {
                "minute" => MINUTE,
                "hour" => 60 * MINUTE,
                "day" => DAY,
                _ => return Err(format!("the unit of `{expression}`")),
            };
            return Ok(Self::Rate(Duration::from_secs(value * unit)));
        }
        let Some(cron) = inside(expression, "cron(") else {
            return Err(format!(
                "`{expression}` is neither `rate(..)` nor `cron(..)`"
            ));
        };
        let fields: Vec<&str> = cron.split_whitespace().collect();
        let [minutes, hours, days, months, weekdays, years] = fields[..] else {
            return Err(format!("`{expression}` has not 6 fields"));
        };
        let years = match years {
            "*" | "?" => None,
            years => {
                let allowed = values(years, 1970, 2199, &[])?;
                Some(
                    (1970..=2199)
                        .filter(|year| allowed[*year as usize])
                        .collect(),
                )
            }
        };
        Ok(Self::Cron(Box::new(Cron {
            minutes: values(minutes, 0, 59, &[])?,
            hours: values(hours, 0, 23, &[])?,
            days: match days {
                "?" => Days::Any,
                "L" => Days::Last,
                "LW" => Days::LastWeekday,
                day if day.ends_with('W') => {
                    Days::NearestWeekday(number(&day[..day.len() - 1], 1, 31)?)
                }
                days => Days::Listed(values(days, 1, 31, &[])?),
            },
            months: values(months, 1, 12, &MONTHS)?,
            weekdays: match weekdays {
                "?" => Weekdays::Any,
                day if day.ends_with('L') && day.len() > 1 => {
                    Weekdays::Last(number_or_name(&day[..day.len() - 1], 1, 7, &WEEKDAYS)?)
                }
                day if day.contains('#') => {
                    let (day, nth) = day.split_once('#').unwrap_or_default();
                    Weekdays::Nth(number_or_name(day, 1, 7, &WEEKDAYS)?, number(nth, 1, 5)?)
                }
                days => Weekdays::Listed(values(days, 1, 7, &WEEKDAYS)?),
            },
            years,
        })))
    }

    /// When it fires next after `after`, for a schedule started at `started`; `None` for a
    /// cron expression naming no minute in the next five years.
    pub(crate) fn next(&self, started: SystemTime, after: SystemTime) -> Option<SystemTime> {
        let seconds = |time: SystemTime| {
            time.duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs()
        };
        match self {
            Self::Rate(every) => {
                let every = every.as_secs().max(1);
                let elapsed = seconds(after).saturating_sub(seconds(started));
                let periods = elapsed / every + 1;
                Some(UNIX_EPOCH + Duration::from_secs(seconds(started) + periods * every))
            }
            Self::Cron(cron) => {
                // The next whole minute after `after`.
                let from = (seconds(after) / MINUTE + 1) * MINUTE;
                let first_day = from / DAY;
                for day in first_day..first_day + HORIZON_DAYS {
                    if !cron.fires_on(day) {
                        continue;
                    }
                    let start = if day == first_day {
                        from % DAY / MINUTE
                    } else {
                        0
                    };
                    for minute_of_day in start..DAY / MINUTE {
                        let (hour, minute) = (minute_of_day / 60, minute_of_day % 60);
                        if cron.hours[hour as usize] && cron.minutes[minute as usize] {
                            return Some(
                                UNIX_EPOCH
                                    + Duration::from_secs(day * DAY + minute_of_day * MINUTE),
                            );
                        }
                    }
                }
                None
            }
        }
    }
}

impl Cron {
    /// Whether it fires on `day` (days since 1970-01-01).
    fn fires_on(&self, day: u64) -> bool {
        let (year, month, date) = civil_from_days(day);
        if !self.months[month as usize]
            || self
                .years
                .as_ref()
                .is_some_and(|years| !years.contains(&(year as u32)))
        {
            return false;
        }
        let month_start = days_from_civil(year as u64, month.into(), 1).unwrap_or(day);
        let (next_year, next_month) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
        let length = days_from_civil(next_year as u64, next_month.into(), 1).unwrap_or(day + 1)
            - month_start;
        // 1 (Sunday) to 7 (Saturday); 1970-01-01 was a Thursday.
        let weekday = |day: u64| ((day + 4) % 7) as u32 + 1;
        let is_weekday = |day: u64| (2..=6).contains(&weekday(day));
        let days = match &self.days {
            Days::Any => true,
            Days::Listed(days) => days[date as usize],
            Days::Last => u64::from(date) == length,
            Days::LastWeekday => {
                let last = month_start + length - 1;
                (0..3).map(|back| last - back).find(|day| is_weekday(*day)) == Some(day)
            }
            Days::NearestWeekday(wanted) => {
                let wanted = month_start + u64::from(*wanted).min(length) - 1;
                let nearest = match weekday(wanted) {
                    // Saturday: the Friday before, unless that is in the month before.
                    7 if wanted > month_start => wanted - 1,
                    7 => wanted + 2,
                    // Sunday: the Monday after, unless that is in the month after.
                    1 if wanted + 1 < month_start + length => wanted + 1,
                    1 => wanted - 2,
                    _ => wanted,
                };
                nearest == day
            }
        };
        let weekdays = match &self.weekdays {
            Weekdays::Any => true,
            Weekdays::Listed(weekdays) => weekdays[weekday(day) as usize],
            Weekdays::Last(wanted) => weekday(day) == *wanted && u64::from(date) + 7 > length,
            Weekdays::Nth(wanted, nth) => weekday(day) == *wanted && (date - 1) / 7 + 1 == *nth,
        };
        days && weekdays
    }
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// The text between `prefix` and the closing `)`.
fn inside<'a>(expression: &'a str, prefix: &str) -> Option<&'a str> {
    expression.strip_prefix(prefix)?.strip_suffix(')')
}

/// A number from `low` to `high`.
fn number(text: &str, low: u32, high: u32) -> Result<u32, String> {
    text.parse::<u32>()
        .ok()
        .filter(|value| (low..=high).contains(value))
        .ok_or_else(|| format!("`{text}` is not from {low} to {high}"))
}

/// A number, or one of `names` (numbered from `low`).
fn number_or_name(text: &str, low: u32, high: u32, names: &[&str]) -> Result<u32, String> {
    match names
        .iter()
        .position(|name| name.eq_ignore_ascii_case(text))
    {
        Some(index) => Ok(index as u32 + low),
        None => number(text, low, high),
    }
}

/// The values a field allows, indexed by value: `*`, `a`, `a-b`, `a/step`, `a-b/step`,
/// `*/step`, and lists of those.
fn values(field: &str, low: u32, high: u32, names: &[&str]) -> Result<Vec<bool>, String> {
    let mut allowed = vec![false; high as usize + 1];
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (range, number(step, 1, high.max(1))?),
            None => (part, 1),
        };
        let (first, last) = match range {
            "*" | "?" => (low, high),
            range => match range.split_once('-') {
                Some((first, last)) => (
                    number_or_name(first, low, high, names)?,
                    number_or_name(last, low, high, names)?,
                ),
                // `5/15`: from 5 on.
                None if part.contains('/') => (number_or_name(range, low, high, names)?, high),
                None => {
                    let value = number_or_name(range, low, high, names)?;
                    (value, value)
                }
            },
        };
        for value in (first..=last).step_by(step as usize) {
            allowed[value as usize] = true;
        }
    }
    Ok(allowed)
}

/// One trigger's schedule, ready to fire.
#[derive(Debug)]
pub(super) struct Timer {
    pub(super) function: String,
    pub(super) expression: String,
    schedule: Schedule,
    rule_arn: String,
    input: Option<String>,
    region: String,
    account: String,
    at: Setting,
}

impl Timer {
    /// The schedule of `expression`, whose rule would be `rule_arn`.
    ///
    /// # Errors
    ///
    /// What of the expression is not understood.
    pub(super) fn new(
        at: &Setting,
        trigger: &crate::deploy::settings::ScheduleTrigger,
        (rule_arn, region, account): (String, &str, &str),
    ) -> Result<Self, String> {
        Ok(Self {
            function: at.function.clone(),
            expression: trigger.expression.clone(),
            schedule: Schedule::parse(&trigger.expression)?,
            rule_arn,
            input: trigger.input.clone(),
            region: region.to_owned(),
            account: account.to_owned(),
            at: at.clone(),
        })
    }

    /// Fires (once at once, with `now`), then at each time the schedule names, until stopped.
    pub(super) async fn run(self, emulator: Arc<Emulator>, now: bool) {
        let started = SystemTime::now();
        if now {
            self.fire(&emulator, started);
        }
        let mut after = started;
        while let Some(next) = self.schedule.next(started, after) {
            let wait = next.duration_since(SystemTime::now()).unwrap_or_default();
            tokio::time::sleep(wait).await;
            self.fire(&emulator, next);
            after = next;
        }
        println!(
            "lambdakit: `{}` ({}) names no time in the next five years: it does not fire",
            self.expression, self.at
        );
    }

    /// Invokes the function asynchronously with the scheduled event of `time`.
    fn fire(&self, emulator: &Arc<Emulator>, time: SystemTime) {
        let event = match &self.input {
            Some(input) => serde_json::from_str(input).unwrap_or(Value::String(input.clone())),
            None => eventbridge_event(&EventBridgeEvent {
                id: &super::super::ids::request_id(),
                time: &crate::time::rfc3339(time).replace(".000Z", "Z"),
                region: &self.region,
                account: &self.account,
                source: "aws.events",
                detail_type: "Scheduled Event",
                detail: serde_json::json!({}),
                resources: vec![self.rule_arn.clone()],
            }),
        };
        let what = format!("`{}`", self.expression);
        super::fire(
            emulator,
            (&what, Trigger::Schedule),
            &self.function,
            &self.at,
            &event,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `2026-MM-DD HH:MM` UTC.
    fn at(month: u32, day: u32, hour: u64, minute: u64) -> SystemTime {
        let days = days_from_civil(2026, month.into(), day.into()).unwrap();
        UNIX_EPOCH + Duration::from_secs(days * DAY + hour * 3600 + minute * 60)
    }

    fn next(expression: &str, after: SystemTime) -> SystemTime {
        let schedule = Schedule::parse(expression).unwrap();
        schedule.next(after, after).unwrap()
    }

    #[test]
    fn rates_fire_every_period_from_the_start() {
        let start = at(1, 1, 12, 0) + Duration::from_secs(7);
        let schedule = Schedule::parse("rate(5 minutes)").unwrap();
        assert_eq!(
            schedule.next(start, start),
            Some(start + Duration::from_secs(300))
        );
        let later = start + Duration::from_secs(301);
        assert_eq!(
            schedule.next(start, later),
            Some(start + Duration::from_secs(600))
        );
        assert_eq!(
            Schedule::parse("rate(1 day)").unwrap(),
            Schedule::Rate(Duration::from_secs(DAY))
        );
    }

    #[test]
    fn cron_finds_the_next_minute_it_names() {
        // 2026-01-01 is a Thursday.
        assert_eq!(next("cron(30 2 * * ? *)", at(1, 1, 12, 0)), at(1, 2, 2, 30));
        assert_eq!(next("cron(30 2 * * ? *)", at(1, 1, 1, 0)), at(1, 1, 2, 30));
        assert_eq!(
            next("cron(0/15 * * * ? *)", at(1, 1, 12, 7)),
            at(1, 1, 12, 15)
        );
        assert_eq!(
            next("cron(0 9 ? * MON-FRI *)", at(1, 2, 10, 0)),
            at(1, 5, 9, 0)
        );
        assert_eq!(
            next("cron(0 0 1 JAN,JUL ? *)", at(1, 2, 0, 0)),
            at(7, 1, 0, 0)
        );
        // The last day of February, the last Friday of January, the first Monday of February.
        assert_eq!(next("cron(0 12 L 2 ? *)", at(1, 1, 0, 0)), at(2, 28, 12, 0));
        assert_eq!(
            next("cron(0 12 ? 1 6L *)", at(1, 1, 0, 0)),
            at(1, 30, 12, 0)
        );
        assert_eq!(
            next("cron(0 12 ? * 2#1 *)", at(1, 6, 0, 0)),
            at(2, 2, 12, 0)
        );
        // The weekday nearest the 3rd of January (a Saturday) is Friday the 2nd; the 1st of
        // February is a Sunday: Monday the 2nd.
        assert_eq!(next("cron(0 8 3W * ? *)", at(1, 1, 0, 0)), at(1, 2, 8, 0));
        assert_eq!(next("cron(0 8 1W * ? *)", at(1, 10, 0, 0)), at(2, 2, 8, 0));
        // January's last weekday is Friday the 30th.
        assert_eq!(next("cron(0 8 LW * ? *)", at(1, 1, 0, 0)), at(1, 30, 8, 0));
        // A year that is over never comes.
        let past = Schedule::parse("cron(0 8 * * ? 2025)").unwrap();
        assert_eq!(past.next(at(1, 1, 0, 0), at(1, 1, 0, 0)), None);
    }
}
