//! The operator's tables (`rapport report`, `rapport sla`, `rapport keys list`): each column as
//! wide as its widest cell, two spaces between columns.

/// Renders `header` and `rows`; the first `left` columns are left-aligned (names, keys), the
/// rest right-aligned so numbers end under their header. Trailing spaces are trimmed. Widths
/// count characters, as `format!`'s padding does.
pub fn aligned<R: AsRef<[String]>>(header: &[&str], rows: &[R], left: usize) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r.as_ref()[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let render = |cells: &mut dyn Iterator<Item = &str>| {
        let padded: Vec<String> = cells
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if i < left {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut text = render(&mut header.iter().copied());
    for row in rows {
        text.push_str(&render(&mut row.as_ref().iter().map(String::as_str)));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fit_their_widest_cell_and_numbers_align_right() {
        let rows = [
            vec!["email".to_owned(), "12".to_owned()],
            vec!["chat".to_owned(), "3".to_owned()],
        ];
        assert_eq!(
            aligned(&["CHANNEL", "N"], &rows, 1),
            "CHANNEL   N\nemail    12\nchat      3\n"
        );
        assert_eq!(
            aligned(&["CHANNEL", "N"], &rows, 2),
            "CHANNEL  N\nemail    12\nchat     3\n"
        );
    }
}
