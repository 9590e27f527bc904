//! WGSL shader sources and how their compile errors map back to files.
//!
//! A [`Shader`] is one `.wgsl` file under `shaders/`, optionally preceded by
//! shared snippets (`includes`) such as the precision prelude or the grid helpers.
//! That prepending is the only text composition weft does; everything else is
//! specialised through WGSL `override` constants. When compilation fails, the
//! compiler's line is mapped back to the file it came from.

use crate::error::ShaderError;

/// A WGSL source file, embedded at build time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShaderFile {
    /// Path relative to `shaders/`, e.g. `"gemm/gemm_naive.wgsl"`.
    pub path: &'static str,
    /// The file's text.
    pub text: &'static str,
}

/// A compilable shader: includes first, then the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shader {
    pub includes: &'static [ShaderFile],
    pub body: ShaderFile,
}

impl Shader {
    /// A shader of a single file, without includes.
    pub const fn single(body: ShaderFile) -> Self {
        Shader {
            includes: &[],
            body,
        }
    }

    /// The key identifying this shader in caches.
    pub fn key(&self) -> String {
        let mut key = String::new();
        for inc in self.includes {
            key.push_str(inc.path);
            key.push('+');
        }
        key.push_str(self.body.path);
        key
    }

    /// Whether the shader needs native f16 (`enable f16;` anywhere in its parts).
    pub fn uses_native_f16(&self) -> bool {
        self.parts().any(|f| {
            f.text
                .lines()
                .any(|l| l.trim_start().starts_with("enable f16"))
        })
    }

    /// Whether the shader calls subgroup builtins (in code, not comments):
    /// it needs [`Feature::Subgroups`](crate::Feature::Subgroups).
    pub fn uses_subgroups(&self) -> bool {
        self.parts().any(|f| {
            f.text
                .lines()
                .map(|l| l.split("//").next().unwrap_or(""))
                .any(|code| code.contains("subgroup"))
        })
    }

    fn parts(&self) -> impl Iterator<Item = &ShaderFile> {
        self.includes.iter().chain(std::iter::once(&self.body))
    }

    /// The full source passed to the compiler.
    pub fn compose(&self) -> String {
        self.compose_with(&[])
    }

    /// [`compose`](Self::compose) with the files named in `overrides`
    /// (path, text) replaced.
    pub fn compose_with(&self, overrides: &[(String, String)]) -> String {
        let mut src = String::new();
        for part in self.parts() {
            let text = overrides
                .iter()
                .find(|(path, _)| path == part.path)
                .map_or(part.text, |(_, text)| text.as_str());
            src.push_str(text);
            if !text.ends_with('\n') {
                src.push('\n');
            }
        }
        src
    }

    /// Maps a 1-based line of the composed source to (file, line within file).
    pub fn locate(&self, line: u32) -> (&'static str, u32) {
        let mut first = 1u32;
        for part in self.parts() {
            let lines = part.text.lines().count().max(1) as u32;
            if line < first + lines {
                return (part.path, line - first + 1);
            }
            first += lines;
        }
        (self.body.path, line)
    }

    /// Builds a [`ShaderError`] from a compiler message at a composed-source location.
    pub(crate) fn error_at(
        &self,
        line: Option<u32>,
        column: Option<u32>,
        message: String,
    ) -> ShaderError {
        match line {
            Some(l) => {
                let (file, line) = self.locate(l);
                ShaderError {
                    file: file.to_string(),
                    line: Some(line),
                    column,
                    message,
                }
            }
            None => ShaderError {
                file: self.body.path.to_string(),
                line: None,
                column: None,
                message,
            },
        }
    }
}

/// Pulls `line:column` out of a naga diagnostic (`┌─ wgsl:5:18`) when the compiler
/// gave no structured location.
pub(crate) fn parse_location(message: &str) -> Option<(u32, u32)> {
    let at = message.find("wgsl:")?;
    let rest = &message[at + 5..];
    let mut it = rest.split(|c: char| !c.is_ascii_digit());
    let line = it.next()?.parse().ok()?;
    let col = it.next()?.parse().ok()?;
    Some((line, col))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: ShaderFile = ShaderFile {
        path: "common/a.wgsl",
        text: "// a\nfn a() {}\n",
    };
    const B: ShaderFile = ShaderFile {
        path: "op/b.wgsl",
        text: "// b\n\nfn b() {}",
    };

    #[test]
    fn lines_map_back_to_their_file() {
        let s = Shader {
            includes: &[A],
            body: B,
        };
        assert_eq!(s.compose(), "// a\nfn a() {}\n// b\n\nfn b() {}\n");
        assert_eq!(s.locate(2), ("common/a.wgsl", 2));
        assert_eq!(s.locate(3), ("op/b.wgsl", 1));
        assert_eq!(s.locate(5), ("op/b.wgsl", 3));
    }

    #[test]
    fn naga_locations_parse() {
        let msg = "parsing error\n  ┌─ wgsl:5:18\n  │";
        assert_eq!(parse_location(msg), Some((5, 18)));
        assert_eq!(parse_location("no location"), None);
    }
}
