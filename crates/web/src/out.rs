//! Answers written as they are made, within a budget: the JSON text goes
//! into fixed-size chunks (no buffer that doubles and copies itself), each
//! chunk counted against the request's budget before it is filled, and long
//! lists are made, written and dropped one element at a time.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::convert::Infallible;
use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use pathproof_core::analysis::budget::{Budget, Exceeded};

/// The size of one chunk of an answer's text.
const CHUNK: usize = 64 << 10;

/// An answer's text, in chunks: cheap to keep and to send again.
#[derive(Debug, Clone, Default)]
pub(crate) struct Text {
    chunks: Vec<Bytes>,
    len: usize,
}

impl Text {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The answer, as JSON that no cache keeps.
    pub(crate) fn response(&self) -> Response {
        let body = Chunks {
            left: self.chunks.iter().cloned().collect(),
            len: self.len as u64,
        };
        crate::api::json_body(Body::new(body)).into_response()
    }

    #[cfg(test)]
    pub(crate) fn to_vec(&self) -> Vec<u8> {
        self.chunks.concat()
    }
}

/// A response body that hands over the chunks of a [`Text`].
struct Chunks {
    left: VecDeque<Bytes>,
    len: u64,
}

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let next = self.left.pop_front();
        if let Some(b) = &next {
            self.len -= b.len() as u64;
        }
        Poll::Ready(next.map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.left.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len)
    }
}

/// A writer into a [`Text`] that counts each chunk against `budget` before
/// filling it, and fails when the budget is exceeded (or cancelled).
pub(crate) struct Out<'b> {
    text: Text,
    cur: Vec<u8>,
    budget: &'b Budget,
}

impl<'b> Out<'b> {
    pub(crate) fn new(budget: &'b Budget) -> Out<'b> {
        Out {
            text: Text::default(),
            cur: Vec::new(),
            budget,
        }
    }

    pub(crate) fn finish(mut self) -> Text {
        if !self.cur.is_empty() {
            let last = std::mem::take(&mut self.cur);
            self.text.len += last.len();
            self.text.chunks.push(Bytes::from(last));
        }
        self.text
    }
}

impl Write for Out<'_> {
    fn write(&mut self, mut b: &[u8]) -> std::io::Result<usize> {
        let n = b.len();
        while !b.is_empty() {
            if self.cur.len() == self.cur.capacity() {
                if !self.cur.is_empty() {
                    let full = std::mem::take(&mut self.cur);
                    self.text.len += full.len();
                    self.text.chunks.push(Bytes::from(full));
                }
                self.budget
                    .charge((CHUNK + std::mem::size_of::<Bytes>()) as u64)
                    .map_err(std::io::Error::other)?;
                self.cur = Vec::with_capacity(CHUNK);
            }
            let room = self.cur.capacity() - self.cur.len();
            let (now, later) = b.split_at(room.min(b.len()));
            self.cur.extend_from_slice(now);
            b = later;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A list whose elements are made as they are written.
pub(crate) type Lazy<'a> = Box<dyn Iterator<Item = Result<Value, Exceeded>> + 'a>;

/// A JSON object written as it is made: its small fields as values, its
/// long lists element by element. Keys come in sorted order, as in every
/// other answer (serde_json's `Map` sorts them).
pub(crate) struct Streamed<'a> {
    pub(crate) fields: Map<String, Value>,
    pub(crate) lists: BTreeMap<&'static str, RefCell<Lazy<'a>>>,
}

impl<'a> Streamed<'a> {
    pub(crate) fn new(fields: Map<String, Value>) -> Self {
        Streamed {
            fields,
            lists: BTreeMap::new(),
        }
    }

    pub(crate) fn list(
        mut self,
        key: &'static str,
        items: impl Iterator<Item = Result<Value, Exceeded>> + 'a,
    ) -> Self {
        self.fields.remove(key);
        self.lists.insert(key, RefCell::new(Box::new(items)));
        self
    }

    /// The pretty-printed text and a final newline, within `budget`.
    pub(crate) fn write(&self, budget: &Budget) -> Result<Text, Exceeded> {
        self.write_as(budget, usize::MAX)
    }

    /// As [`Streamed::write`], but pretty-printed only `depth` levels deep:
    /// with 2, the object and its lists are indented and each element of a
    /// list is one compact line (the compact matrix: a class, a row or a
    /// column per line, not a line per number).
    pub(crate) fn write_lines(&self, budget: &Budget, depth: usize) -> Result<Text, Exceeded> {
        self.write_as(budget, depth)
    }

    fn write_as(&self, budget: &Budget, depth: usize) -> Result<Text, Exceeded> {
        let mut out = Out::new(budget);
        let mut ser = serde_json::Serializer::with_formatter(&mut out, Shallow::new(depth));
        let written = self
            .serialize(&mut ser)
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"));
        match written {
            Ok(()) => {
                // The budget is counted chunk by chunk: look once more.
                budget.check()?;
                Ok(out.finish())
            }
            // Every failure here is the budget's (the writer keeps every
            // byte, and every value serialises); the budget says which.
            Err(_) => Err(budget.check().err().unwrap_or(Exceeded::Cancelled)),
        }
    }
}

impl Serialize for Streamed<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let keys: BTreeSet<&str> = self
            .fields
            .keys()
            .map(String::as_str)
            .chain(self.lists.keys().copied())
            .collect();
        let mut m = s.serialize_map(Some(keys.len()))?;
        for k in keys {
            match self.lists.get(k) {
                Some(list) => m.serialize_entry(k, &LazyList(list))?,
                None => m.serialize_entry(k, &self.fields[k])?,
            }
        }
        m.end()
    }
}

/// `v` as JSON pretty-printed only `depth` levels deep (as
/// [`Streamed::write_lines`]), with a final newline: the scenario's view at
/// depth 2 is a line per host, filter or DNS view, and is a third smaller
/// than pretty-printed all the way down (the page reads it before its first
/// paint).
pub(crate) fn to_lines<T: Serialize>(v: &T, depth: usize) -> String {
    let mut buf = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, Shallow::new(depth));
    v.serialize(&mut ser).expect("plain values serialise");
    buf.push(b'\n');
    String::from_utf8(buf).expect("serde_json writes UTF-8")
}

/// serde_json's pretty formatter (two spaces) down to `depth` levels of
/// objects and lists, its compact formatter below them.
struct Shallow {
    pretty: serde_json::ser::PrettyFormatter<'static>,
    depth: usize,
    max: usize,
}

impl Shallow {
    fn new(max: usize) -> Self {
        Shallow {
            pretty: serde_json::ser::PrettyFormatter::new(),
            depth: 0,
            max,
        }
    }
}

/// Each structural call goes to the pretty formatter at the levels it
/// prints (the compact formatter's calls write the bare punctuation).
macro_rules! by_depth {
    ($self:ident, $w:ident, $pretty:expr, $compact:expr) => {
        if $self.depth <= $self.max {
            $pretty
        } else {
            $compact
        }
    };
}

impl serde_json::ser::Formatter for Shallow {
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.depth += 1;
        by_depth!(self, w, self.pretty.begin_array(w), w.write_all(b"["))
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        let r = by_depth!(self, w, self.pretty.end_array(w), w.write_all(b"]"));
        self.depth -= 1;
        r
    }
    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        by_depth!(
            self,
            w,
            self.pretty.begin_array_value(w, first),
            if first { Ok(()) } else { w.write_all(b",") }
        )
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        by_depth!(self, w, self.pretty.end_array_value(w), Ok(()))
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.depth += 1;
        by_depth!(self, w, self.pretty.begin_object(w), w.write_all(b"{"))
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        let r = by_depth!(self, w, self.pretty.end_object(w), w.write_all(b"}"));
        self.depth -= 1;
        r
    }
    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        by_depth!(
            self,
            w,
            self.pretty.begin_object_key(w, first),
            if first { Ok(()) } else { w.write_all(b",") }
        )
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        by_depth!(
            self,
            w,
            self.pretty.begin_object_value(w),
            w.write_all(b":")
        )
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        by_depth!(self, w, self.pretty.end_object_value(w), Ok(()))
    }
}

struct LazyList<'r, 'a>(&'r RefCell<Lazy<'a>>);

impl Serialize for LazyList<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for item in self.0.borrow_mut().by_ref() {
            let v = item.map_err(serde::ser::Error::custom)?;
            seq.serialize_element(&v)?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The text is what `to_string_pretty` of the whole value gives.
    #[test]
    fn streamed_is_the_whole_value_pretty() {
        let whole = json!({
            "b": [1, {"x": [], "y": "z"}],
            "a": "text",
            "c": [],
            "d": {"k": [1, 2]},
        });
        let fields = whole.as_object().unwrap().clone();
        let b = whole["b"].as_array().unwrap().clone();
        let s = Streamed::new(fields)
            .list("b", b.into_iter().map(Ok))
            .list("c", std::iter::empty());
        let text = s.write(&Budget::unlimited()).unwrap();
        let mut want = serde_json::to_string_pretty(&whole).unwrap();
        want.push('\n');
        assert_eq!(String::from_utf8(text.to_vec()).unwrap(), want);
        assert_eq!(text.len(), want.len());
    }

    /// Pretty to a depth, compact below: the same value, an element of the
    /// object's lists per line.
    #[test]
    fn lines_are_the_same_value() {
        let whole = json!({
            "b": [1, {"x": [], "y": "z", "w": [1, [2, {}]]}],
            "a": "text",
            "c": [],
            "d": {"k": [1, 2], "e": {}},
        });
        let fields = whole.as_object().unwrap().clone();
        let b = whole["b"].as_array().unwrap().clone();
        let s = Streamed::new(fields).list("b", b.into_iter().map(Ok));
        let text =
            String::from_utf8(s.write_lines(&Budget::unlimited(), 2).unwrap().to_vec()).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), whole);
        assert_eq!(
            text,
            "{\n  \"a\": \"text\",\n  \"b\": [\n    1,\n    {\"w\":[1,[2,{}]],\"x\":[],\"y\":\"z\"}\n  ],\n  \"c\": [],\n  \"d\": {\n    \"e\": {},\n    \"k\": [1,2]\n  }\n}\n"
        );
        for depth in [0, 1, 3, 9] {
            let s = Streamed::new(whole.as_object().unwrap().clone());
            let text = s.write_lines(&Budget::unlimited(), depth).unwrap().to_vec();
            assert_eq!(
                serde_json::from_slice::<Value>(&text).unwrap(),
                whole,
                "{depth}"
            );
        }
        let s = Streamed::new(whole.as_object().unwrap().clone());
        let compact = s.write_lines(&Budget::unlimited(), 0).unwrap().to_vec();
        assert_eq!(
            compact,
            format!("{}\n", serde_json::to_string(&whole).unwrap()).into_bytes()
        );
    }

    /// A value written at once to a depth is the streamed text of the same
    /// value, and the same value when read back (the built-in scenarios'
    /// views, as `/api/scenario` serves them).
    #[test]
    fn to_lines_is_the_streamed_text() {
        let whole = json!({"b": [1, {"x": [], "y": "z"}], "a": "t", "d": {"k": [1, 2]}});
        for depth in [0, 1, 2, 3, 9] {
            let s = Streamed::new(whole.as_object().unwrap().clone());
            let streamed = s.write_lines(&Budget::unlimited(), depth).unwrap().to_vec();
            assert_eq!(to_lines(&whole, depth).into_bytes(), streamed, "{depth}");
        }
        for e in pathproof_core::examples::ALL {
            let c = crate::Current::load(&e.file(), e.text).unwrap();
            let view = crate::view::ScenarioView::new(&c.base, e.text);
            let text = c.view_json();
            let want = serde_json::to_value(&view).unwrap();
            assert_eq!(serde_json::from_str::<Value>(text).unwrap(), want);
            // A line per host: no host is spread over lines.
            let hosts = want["hosts"].as_array().unwrap();
            let lines: Vec<Value> = text
                .lines()
                .filter_map(|l| serde_json::from_str(l.trim_end_matches(',')).ok())
                .collect();
            assert!(hosts.iter().all(|h| lines.contains(h)), "{}", e.name);
        }
    }

    #[test]
    fn a_long_text_stops_at_the_budget() {
        let items = (0..100_000).map(|i| Ok(json!({ "item": i, "pad": "x".repeat(50) })));
        let budget = Budget::new(1 << 20);
        let r = Streamed::new(Map::new()).list("l", items).write(&budget);
        assert_eq!(
            r.map(|t| t.len()),
            Err(Exceeded::TooLarge { limit: 1 << 20 })
        );
        let items = (0..10).map(|i| Ok(json!(i)));
        let budget = Budget::unlimited();
        budget.cancel();
        let r = Streamed::new(Map::new()).list("l", items).write(&budget);
        assert_eq!(r.map(|t| t.len()), Err(Exceeded::Cancelled));
        // An element that cannot be made stops the text with its reason.
        let items = [Ok(json!(1)), Err(Exceeded::TooLarge { limit: 7 })].into_iter();
        let budget = Budget::new(7);
        let _ = budget.charge(8);
        let r = Streamed::new(Map::new()).list("l", items).write(&budget);
        assert_eq!(r.map(|t| t.len()), Err(Exceeded::TooLarge { limit: 7 }));
    }
}
