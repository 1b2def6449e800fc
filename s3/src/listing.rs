//! One page of ListObjects / ListObjectsV2, sans I/O: keys in order,
//! `prefix`, `delimiter` folding keys into CommonPrefixes, `max-keys`, and
//! where the next page starts.
//!
//! Invariants (table and property tests): results are in key order, every
//! key (or its common prefix) appears on exactly one page across a whole
//! listing, and a page holds at most `max_keys` entries (keys plus common
//! prefixes), as S3 counts them. The token of a page that ended on a
//! common prefix is that prefix; the next page skips every key under it.

/// Entries a page holds at most (S3's limit).
pub const MAX_KEYS: usize = 1000;

/// Keys a page looks at, at most, before it answers (bounds the work of a
/// page whose keys fold into few common prefixes); a page that stops here
/// is truncated and the next one goes on.
pub const MAX_SCANNED_KEYS: usize = 100_000;

/// What to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query<'a> {
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    /// The key (or common prefix) the previous page ended on.
    pub after: Option<&'a str>,
    pub max_keys: usize,
}

/// One page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page<T> {
    pub contents: Vec<(String, T)>,
    pub common_prefixes: Vec<String>,
    /// Where the next page starts (`None`: this is the last).
    pub next: Option<String>,
}

/// Whether `key` is on a page after `after` (a key, or a common prefix
/// that ends with the delimiter).
pub fn is_after(key: &str, after: &str, delimiter: Option<&str>) -> bool {
    if key <= after {
        return false;
    }
    let folded = delimiter.is_some_and(|d| !d.is_empty() && after.ends_with(d));
    !(folded && key.starts_with(after))
}

/// Where a listing resumes in the key space after `after`: past every key
/// under `after` when it is a common prefix (it was listed once, folded).
pub fn resume_key(after: &str, delimiter: Option<&str>) -> String {
    match delimiter {
        Some(d) if !d.is_empty() && after.ends_with(d) => format!("{after}{}", char::MAX),
        _ => after.to_string(),
    }
}

/// Builds one page from `keys` (in order, each starting with the query's
/// prefix and past `after`, as the caller found them from
/// [`resume_key`]). Looks at [`MAX_SCANNED_KEYS`] keys at most: a page
/// that stops there is truncated, and its token resumes past what it saw.
pub fn page<T>(keys: impl IntoIterator<Item = (String, T)>, q: &Query<'_>) -> Page<T> {
    let max = q.max_keys.min(MAX_KEYS);
    let mut out = Page {
        contents: Vec::new(),
        common_prefixes: Vec::new(),
        next: None,
    };
    if max == 0 {
        return out;
    }
    // The last entry listed (a key or a common prefix).
    let mut last: Option<String> = None;
    // The key looked at before this one.
    let mut prev: Option<String> = None;
    for (scanned, (key, value)) in keys.into_iter().enumerate() {
        if scanned >= MAX_SCANNED_KEYS {
            // Resume past what was seen: the last entry listed (a common
            // prefix resumes past all its keys), or the key before this.
            out.next = last.or(prev);
            return out;
        }
        prev = Some(key.clone());
        if q.after.is_some_and(|a| !is_after(&key, a, q.delimiter)) || !key.starts_with(q.prefix) {
            continue;
        }
        let folded = q.delimiter.filter(|d| !d.is_empty()).and_then(|d| {
            key[q.prefix.len()..]
                .find(d)
                .map(|at| key[..q.prefix.len() + at + d.len()].to_string())
        });
        let entries = out.contents.len() + out.common_prefixes.len();
        match folded {
            Some(cp) if out.common_prefixes.last() == Some(&cp) => continue,
            _ if entries == max => {
                out.next = last;
                return out;
            }
            Some(cp) => {
                last = Some(cp.clone());
                out.common_prefixes.push(cp);
            }
            None => {
                last = Some(key.clone());
                out.contents.push((key, value));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keys(names: &[&str]) -> Vec<(String, ())> {
        names.iter().map(|n| (n.to_string(), ())).collect()
    }

    fn names(p: &Page<()>) -> Vec<&str> {
        p.contents.iter().map(|(k, _)| k.as_str()).collect()
    }

    #[test]
    fn prefixes_delimiters_and_pages() {
        let all = keys(&[
            "a.txt",
            "dir/x",
            "dir/y",
            "dir/z/1",
            "e",
            "photos/2024/a.jpg",
            "photos/b.jpg",
        ]);
        let q = Query {
            prefix: "",
            delimiter: Some("/"),
            after: None,
            max_keys: 1000,
        };
        let p = page(all.clone(), &q);
        assert_eq!(names(&p), ["a.txt", "e"]);
        assert_eq!(p.common_prefixes, ["dir/", "photos/"]);
        assert_eq!(p.next, None);

        let q = Query {
            prefix: "photos/",
            ..q
        };
        let p = page(all.clone(), &q);
        assert_eq!(names(&p), ["photos/b.jpg"]);
        assert_eq!(p.common_prefixes, ["photos/2024/"]);

        // Two entries a page: a common prefix counts as one.
        let q = Query {
            prefix: "",
            delimiter: Some("/"),
            after: None,
            max_keys: 2,
        };
        let p1 = page(all.clone(), &q);
        assert_eq!(names(&p1), ["a.txt"]);
        assert_eq!(p1.common_prefixes, ["dir/"]);
        assert_eq!(p1.next.as_deref(), Some("dir/"));
        let p2 = page(
            all.clone(),
            &Query {
                after: p1.next.as_deref(),
                ..q.clone()
            },
        );
        assert_eq!(names(&p2), ["e"]);
        assert_eq!(p2.common_prefixes, ["photos/"]);
        assert_eq!(p2.next, None, "nothing after photos/");
    }

    #[test]
    fn a_page_that_scans_its_limit_is_truncated_and_resumes_past_it() {
        // More keys under one common prefix than a page looks at, then one more.
        let mut all: Vec<(String, ())> = (0..MAX_SCANNED_KEYS + 50_000)
            .map(|i| (format!("logs/{i:07}"), ()))
            .collect();
        all.push(("z.txt".into(), ()));
        let mut after: Option<String> = None;
        let mut prefixes = Vec::new();
        let mut keys = Vec::new();
        for _ in 0..10 {
            // What the caller does: start past `resume_key`.
            let from = after.as_deref().map(|a| resume_key(a, Some("/")));
            let rest = all
                .iter()
                .filter(|(k, _)| from.as_deref().is_none_or(|f| k.as_str() > f))
                .cloned();
            let p = page(
                rest,
                &Query {
                    prefix: "",
                    delimiter: Some("/"),
                    after: after.as_deref(),
                    max_keys: 1000,
                },
            );
            prefixes.extend(p.common_prefixes);
            keys.extend(p.contents.into_iter().map(|(k, _)| k));
            match p.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(prefixes, ["logs/"], "listed once");
        assert_eq!(keys, ["z.txt"], "nothing after the big prefix is lost");
    }

    proptest! {
        /// Walking a listing page by page gives every key or common
        /// prefix once, in order, whatever the page size.
        #[test]
        fn pages_cover_everything_once(
            mut all in prop::collection::btree_set("[ab/]{1,5}", 0..40),
            max_keys in 1usize..6,
            delimited in any::<bool>(),
        ) {
            all.retain(|k| !k.is_empty());
            let all: Vec<(String, ())> = all.into_iter().map(|k| (k, ())).collect();
            let delimiter = delimited.then_some("/");
            let whole = page(all.clone(), &Query { prefix: "", delimiter, after: None, max_keys: usize::MAX });
            let mut seen_keys = Vec::new();
            let mut seen_prefixes = Vec::new();
            let mut after: Option<String> = None;
            for _ in 0..100 {
                let p = page(all.clone(), &Query { prefix: "", delimiter, after: after.as_deref(), max_keys });
                prop_assert!(p.contents.len() + p.common_prefixes.len() <= max_keys);
                seen_keys.extend(p.contents.into_iter().map(|(k, _)| k));
                seen_prefixes.extend(p.common_prefixes);
                match p.next {
                    Some(n) => after = Some(n),
                    None => break,
                }
            }
            let want_keys: Vec<String> = whole.contents.into_iter().map(|(k, _)| k).collect();
            // A page cut at MAX_KEYS in the whole listing does not apply here (< 40 keys).
            prop_assert_eq!(seen_keys, want_keys);
            prop_assert_eq!(seen_prefixes, whole.common_prefixes);
        }
    }
}
