//! XML in and out: escaping for the answers OSS gives, a small element tree
//! (read with quick-xml) for the bodies clients send (`<Delete>`,
//! `<CreateBucketConfiguration>`), and OSS's `encoding-type=url`.
use quick_xml::events::Event;

/// `s` escaped for XML text and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            // Control characters cannot be written in XML 1.0 text.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {
                o.push_str(&format!("&#x{:X};", c as u32))
            }
            c => o.push(c),
        }
    }
    o
}

/// What `encoding-type=url` does to a key or prefix: every byte but the
/// unreserved ones and `/` percent-encoded.
pub fn url_encode(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

/// One element: its name, its text and its children.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Element {
    /// Local name.
    pub name: String,
    /// Text content (concatenated).
    pub text: String,
    /// Child elements in order.
    pub children: Vec<Element>,
}

impl Element {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Children named `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// Parses a whole document into its root element.
pub fn parse(body: &[u8]) -> Result<Element, String> {
    let mut reader = quick_xml::Reader::from_reader(body);
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Err(e) => return Err(format!("at byte {}: {e}", reader.buffer_position())),
            Ok(Event::Eof) => break,
            Ok(Event::Start(s)) => {
                if root.is_some() {
                    return Err("content after the root element".into());
                }
                if stack.len() > 16 {
                    return Err("elements nested too deep".into());
                }
                stack.push(Element {
                    name: String::from_utf8_lossy(s.local_name().as_ref()).into_owned(),
                    ..Default::default()
                });
            }
            Ok(Event::Empty(s)) => {
                let e = Element {
                    name: String::from_utf8_lossy(s.local_name().as_ref()).into_owned(),
                    ..Default::default()
                };
                match stack.last_mut() {
                    Some(p) => p.children.push(e),
                    None if root.is_none() => root = Some(e),
                    None => return Err("content after the root element".into()),
                }
            }
            Ok(Event::End(_)) => {
                let e = stack.pop().ok_or("an end tag without a start")?;
                match stack.last_mut() {
                    Some(p) => p.children.push(e),
                    None => root = Some(e),
                }
            }
            Ok(Event::Text(t)) => {
                let text = t.unescape().map_err(|e| e.to_string())?;
                match stack.last_mut() {
                    Some(p) => p.text.push_str(&text),
                    None if text.trim().is_empty() => {}
                    None => return Err("text outside the root element".into()),
                }
            }
            Ok(Event::CData(t)) => {
                if let Some(p) = stack.last_mut() {
                    p.text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Ok(Event::DocType(_)) => return Err("a DOCTYPE is not accepted".into()),
            Ok(_) => {}
        }
        buf.clear();
    }
    if !stack.is_empty() {
        return Err("the document ends inside an element".into());
    }
    root.ok_or_else(|| "no root element".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_body_parses_with_escaped_keys() {
        let e = parse(b"<?xml version=\"1.0\"?><Delete><Quiet>true</Quiet><Object><Key>a&amp;b</Key></Object><Object><Key>c d</Key></Object></Delete>").unwrap();
        assert_eq!(e.name, "Delete");
        assert_eq!(e.child("Quiet").unwrap().text, "true");
        let keys: Vec<_> = e
            .all("Object")
            .map(|o| o.child("Key").unwrap().text.clone())
            .collect();
        assert_eq!(keys, ["a&b", "c d"]);
    }

    #[test]
    fn malformed_documents_are_errors() {
        for bad in [&b"<Delete>"[..], b"<a></b>", b"", b"<a/><b/>", b"text"] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn url_encoding_keeps_slashes_and_unreserved() {
        assert_eq!(url_encode("a b/c+d~é"), "a%20b/c%2Bd~%C3%A9");
        assert_eq!(esc("<a&'\">"), "&lt;a&amp;&apos;&quot;&gt;");
    }
}
