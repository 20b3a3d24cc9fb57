//! HTML text helpers.

/// Escape text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON for a `<script type="application/json">` block: `<` escaped so the text can
/// never close the script element.
pub fn script_json(json: &str) -> String {
    json.replace('<', "\\u003c")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<b>\"A&B\"</b> 'x'"),
            "&lt;b&gt;&quot;A&amp;B&quot;&lt;/b&gt; &#39;x&#39;"
        );
        assert_eq!(
            script_json("{\"a\":\"</script>\"}"),
            "{\"a\":\"\\u003c/script>\"}"
        );
    }
}
