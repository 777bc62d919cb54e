//! Streaming line reader: bounded memory whatever the input size, a UTF-8 byte-order mark skipped, CRLF
//! accepted, and non-UTF-8 text reported with its line number.

use std::io::{BufRead, Read};

use super::error::Error;

/// Longest line accepted (a `tc -s -j` dump of a 4096-queue device is one line of a few MB).
pub const MAX_LINE: usize = 16 << 20;

/// Calls `f(line_number, line)` for each line of `r`, without reading the whole input into memory.
pub fn for_each_line<R: BufRead>(
    mut r: R,
    origin: &str,
    mut f: impl FnMut(usize, &str) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut buf = Vec::new();
    let mut line = 0usize;
    loop {
        buf.clear();
        let n = (&mut r)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::input(origin, format!("read error: {e}")))?;
        if n == 0 {
            return Ok(());
        }
        line += 1;
        if buf.len() > MAX_LINE {
            return Err(Error::at(
                origin,
                line,
                format!("line longer than {MAX_LINE} bytes: not command output"),
            ));
        }
        let mut bytes: &[u8] = &buf;
        if line == 1 {
            // A UTF-8 byte-order mark, as some editors and Windows tools write it.
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let text = core::str::from_utf8(bytes).map_err(|e| {
            let at = e.valid_up_to();
            Error::at(
                origin,
                line,
                format!(
                    "not UTF-8 text (byte 0x{:02x} at column {})",
                    bytes.get(at).copied().unwrap_or(0),
                    at + 1
                ),
            )
        })?;
        f(line, text)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(input: &[u8]) -> Result<Vec<(usize, String)>, Error> {
        let mut v = Vec::new();
        for_each_line(input, "t", |n, l| {
            v.push((n, l.to_string()));
            Ok(())
        })?;
        Ok(v)
    }

    #[test]
    fn bom_and_crlf_are_stripped() {
        let v = collect(b"\xEF\xBB\xBFa: 1\r\nb: 2").unwrap_or_default();
        assert_eq!(v, vec![(1, "a: 1".into()), (2, "b: 2".into())]);
    }

    #[test]
    fn non_utf8_names_line_and_column() {
        let e = collect(b"a: 1\nb\xff: 2\n").err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("t: line 2: not UTF-8 text (byte 0xff at column 2)")
        );
    }
}
