//! Status-word and data patterns of `expect_sw` and `expect_data`, and file paths as scripts write them.

use super::*;

/// A status word with per-nibble wildcards: `9000`, `63C2`, `61xx`, `6Cxx`, `xxxx` (anything).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SwPattern([Option<u8>; 4]);

impl SwPattern {
    /// Exactly this status word.
    pub const fn exact(status: Status) -> SwPattern {
        let sw = status.to_u16();
        SwPattern([
            Some((sw >> 12) as u8 & 0xF),
            Some((sw >> 8) as u8 & 0xF),
            Some((sw >> 4) as u8 & 0xF),
            Some(sw as u8 & 0xF),
        ])
    }

    /// `9000`.
    pub const OK: SwPattern = SwPattern::exact(Status::Success);

    /// Parse four hex digits or `x`; spaces are ignored (`"63 C2"`).
    pub fn parse(s: &str) -> Option<SwPattern> {
        let chars: Vec<char> = s.chars().filter(|c| !c.is_whitespace()).collect();
        if chars.len() != 4 {
            return None;
        }
        let mut out = [None; 4];
        for (o, c) in out.iter_mut().zip(chars) {
            *o = match c {
                'x' | 'X' => None,
                c => Some(c.to_digit(16)? as u8),
            };
        }
        Some(SwPattern(out))
    }

    /// Whether `sw` fits.
    pub fn matches(&self, status: Status) -> bool {
        let sw = status.to_u16();
        let nibbles = [(sw >> 12) as u8 & 0xF, (sw >> 8) as u8 & 0xF, (sw >> 4) as u8 & 0xF, sw as u8 & 0xF];
        self.0.iter().zip(nibbles).all(|(p, n)| p.is_none_or(|p| p == n))
    }

    /// The exact word, if the pattern has no wildcard.
    pub fn as_exact(&self) -> Option<Status> {
        self.0.iter().try_fold(0u16, |acc, n| n.map(|n| acc << 4 | u16::from(n))).map(Status::from_sw)
    }
}

impl fmt::Display for SwPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for n in self.0 {
            match n {
                Some(n) => write!(f, "{n:X}")?,
                None => f.write_str("x")?,
            }
        }
        Ok(())
    }
}

impl fmt::Debug for SwPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SwPattern({self})")
    }
}

/// A pattern over answer bytes: hex bytes, `..` for any one byte, `*` for any number of bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataPattern(pub(super) Vec<DataToken>);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DataToken {
    Byte(u8),
    AnyByte,
    AnyRun,
}

impl DataPattern {
    /// Parse an expanded pattern; the error says what is wrong.
    pub fn parse(s: &str) -> Result<DataPattern, String> {
        let chars: Vec<char> = s.chars().filter(|c| !c.is_whitespace()).collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match (chars[i], chars.get(i + 1)) {
                ('*', _) => {
                    tokens.push(DataToken::AnyRun);
                    i += 1;
                }
                ('.', Some('.')) => {
                    tokens.push(DataToken::AnyByte);
                    i += 2;
                }
                (hi, Some(lo)) if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => {
                    let byte = (hi.to_digit(16).unwrap_or(0) << 4 | lo.to_digit(16).unwrap_or(0)) as u8;
                    tokens.push(DataToken::Byte(byte));
                    i += 2;
                }
                (c, _) => {
                    return Err(format!(
                        "`{c}` at character {} is not part of a hex byte, `..` (any byte) or `*` (any bytes)",
                        i + 1
                    ));
                }
            }
        }
        Ok(DataPattern(tokens))
    }

    /// Whether `data` fits the whole pattern.
    pub fn matches(&self, data: &[u8]) -> bool {
        // Glob matching with one backtrack point per `*` (linear in practice for these short patterns).
        let (mut p, mut d) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while d < data.len() {
            match self.0.get(p) {
                Some(DataToken::Byte(b)) if *b == data[d] => {
                    p += 1;
                    d += 1;
                }
                Some(DataToken::AnyByte) => {
                    p += 1;
                    d += 1;
                }
                Some(DataToken::AnyRun) => {
                    star = Some((p, d));
                    p += 1;
                }
                _ => match star {
                    Some((sp, sd)) => {
                        p = sp + 1;
                        d = sd + 1;
                        star = Some((sp, sd + 1));
                    }
                    None => return false,
                },
            }
        }
        self.0[p.min(self.0.len())..].iter().all(|t| *t == DataToken::AnyRun)
    }
}

impl fmt::Display for DataPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<String> = self
            .0
            .iter()
            .map(|t| match t {
                DataToken::Byte(b) => format!("{b:02X}"),
                DataToken::AnyByte => "..".into(),
                DataToken::AnyRun => "*".into(),
            })
            .collect();
        f.write_str(&words.join(" "))
    }
}

/// `5015/4301`, `3F00/5015`, `2F00` → FIDs from the MF (a leading `3F00` is dropped; `3F00` alone is the MF).
pub fn parse_path(s: &str) -> Result<Vec<u16>, String> {
    let mut fids = Vec::new();
    for part in s.split('/') {
        let part = part.trim();
        if part.len() != 4 || !part.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("`{part}` is not a 4-hex-digit file identifier"));
        }
        fids.push(u16::from_str_radix(part, 16).map_err(|e| e.to_string())?);
    }
    if fids.first() == Some(&FileId::MF.0) {
        fids.remove(0);
    }
    Ok(fids)
}

/// A path as written in scripts: `5015/4301`, or `3F00` for the MF.
pub fn path_text(fids: &[u16]) -> String {
    if fids.is_empty() {
        return "3F00".into();
    }
    fids.iter().map(|f| format!("{f:04X}")).collect::<Vec<_>>().join("/")
}
