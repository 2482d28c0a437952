//! "Did you mean": the known name closest to a mistyped one, by edit distance, as cargo
//! suggests subcommands and packages (its `closest_msg`): only names within a third of the
//! typed name's length count, so a wholly other name suggests nothing.

/// The name in `known` closest to `typed`, if one is close enough to be what was meant.
pub fn closest<'a>(typed: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let allowed = (typed.chars().count() / 3).max(1);
    known
        .into_iter()
        .map(|name| (distance(typed, name), name))
        .filter(|(distance, _)| *distance <= allowed)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

/// `; did you mean `NAME`?`, or nothing, for the end of a message.
pub fn did_you_mean<'a>(typed: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    closest(typed, known).map_or_else(String::new, |name| format!("; did you mean `{name}`?"))
}

/// Levenshtein's distance: the fewest insertions, deletions and substitutions from `a` to `b`.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, left) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, right) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(left != *right);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_names_are_suggested_and_far_ones_are_not() {
        let known = ["telemetry-shipper", "secrets-cache"];
        assert_eq!(
            closest("telemetry-shiper", known),
            Some("telemetry-shipper")
        );
        assert_eq!(closest("secret-cache", known), Some("secrets-cache"));
        assert_eq!(closest("metrics", known), None);
        assert_eq!(
            did_you_mean("secrets-cahce", known),
            "; did you mean `secrets-cache`?"
        );
        assert_eq!(did_you_mean("x", known), "");
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
    }
}
