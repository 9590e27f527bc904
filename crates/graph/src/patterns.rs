//! Name patterns for parameters (`layer1.*`, `bn*`, `fc.weight`): shell-style
//! globs where `*` matches any run of characters, dots included, so
//! `layer1.*` is everything inside `layer1`. A command line gives several as
//! one comma-separated list.

use weft_device::{Error, Result};

/// A set of glob patterns over parameter names.
#[derive(Debug, Clone, Default)]
pub struct NamePatterns {
    patterns: Vec<(String, glob::Pattern)>,
}

impl NamePatterns {
    /// The patterns of a comma-separated list (`"conv1.*,layer1.*,bn1.*"`);
    /// blanks around each are ignored, empty entries are skipped.
    pub fn parse(list: &str) -> Result<NamePatterns> {
        NamePatterns::new(list.split(',').map(str::trim).filter(|p| !p.is_empty()))
    }

    /// The patterns given one by one.
    pub fn new<S: AsRef<str>>(patterns: impl IntoIterator<Item = S>) -> Result<NamePatterns> {
        let patterns = patterns
            .into_iter()
            .map(|p| {
                let p = p.as_ref();
                glob::Pattern::new(p)
                    .map(|g| (p.to_string(), g))
                    .map_err(|e| {
                        Error::invalid(
                            "patterns",
                            "pattern",
                            format!("\"{p}\" is not a valid pattern: {e}"),
                        )
                    })
            })
            .collect::<Result<_>>()?;
        Ok(NamePatterns { patterns })
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether any pattern matches `name`.
    pub fn matches(&self, name: &str) -> bool {
        self.patterns.iter().any(|(_, g)| g.matches(name))
    }

    /// The patterns (as written) that match none of `names`: most likely typos.
    pub fn unmatched<'a>(&self, names: impl Iterator<Item = &'a str> + Clone) -> Vec<&str> {
        self.patterns
            .iter()
            .filter(|(_, g)| !names.clone().any(|n| g.matches(n)))
            .map(|(p, _)| p.as_str())
            .collect()
    }
}

impl std::fmt::Display for NamePatterns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list: Vec<&str> = self.patterns.iter().map(|(p, _)| p.as_str()).collect();
        f.write_str(&list.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_cross_dots_and_report_typos() {
        let p = NamePatterns::parse(" layer1.* , bn*,fc.weight,").unwrap();
        assert!(p.matches("layer1.0.conv1.weight"));
        assert!(p.matches("bn1.running_mean"));
        assert!(p.matches("fc.weight"));
        assert!(!p.matches("fc.bias"));
        assert!(!p.matches("layer10.weight"), "the dot is literal");
        assert!(!p.matches("conv1.weight"));
        let names = ["layer1.0.conv1.weight", "fc.weight"];
        assert_eq!(p.unmatched(names.iter().copied()), ["bn*"]);
        assert_eq!(p.to_string(), "layer1.*,bn*,fc.weight");
        assert!(NamePatterns::parse("[").is_err());
        assert!(NamePatterns::parse("").unwrap().is_empty());
    }
}
