//! serde deserialization from a [`Node`] tree, with positions on every error.
//!
//! Each node's deserializer stamps its own position on an error raised while
//! it is being read, unless a deeper node already did: so `unknown field`
//! points at the key, `invalid type` at the value, `missing field` at the map.

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use super::yaml::{is_null_text, Loc, Node, NodeKind};

/// A deserialization error and where it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct DeError {
    pub message: String,
    pub loc: Option<Loc>,
}

impl DeError {
    fn at(mut self, loc: Loc) -> Self {
        if self.loc.is_none() {
            self.loc = Some(loc);
        }
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            message: msg.to_string(),
            loc: None,
        }
    }
}

/// Deserializes `T` from `node`.
pub fn from_node<'a, T: de::Deserialize<'a>>(node: &'a Node) -> Result<T, DeError> {
    T::deserialize(NodeDe(node)).map_err(|e: DeError| e.at(node.loc))
}

/// A deserializer reading one node.
#[derive(Clone, Copy)]
pub struct NodeDe<'a>(pub &'a Node);

impl<'a> NodeDe<'a> {
    fn scalar(&self) -> Option<(&'a str, bool)> {
        match &self.0.kind {
            NodeKind::Scalar { text, plain } => Some((text.as_str(), *plain)),
            _ => None,
        }
    }

    fn unexpected(&self) -> de::Unexpected<'a> {
        match &self.0.kind {
            NodeKind::Scalar { text, .. } => de::Unexpected::Str(text),
            NodeKind::Seq(_) => de::Unexpected::Seq,
            NodeKind::Map(_) => de::Unexpected::Map,
        }
    }

    fn invalid<V: Visitor<'a>>(&self, visitor: &V) -> DeError {
        <DeError as de::Error>::invalid_type(self.unexpected(), visitor).at(self.0.loc)
    }
}

macro_rules! number {
    ($method:ident, $visit:ident, $ty:ty) => {
        fn $method<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
            // Numbers are accepted quoted too: `port: "${PORT}"` is common.
            match self
                .scalar()
                .and_then(|(t, _)| t.trim().parse::<$ty>().ok())
            {
                Some(n) => visitor.$visit(n).map_err(|e: DeError| e.at(self.0.loc)),
                None => Err(self.invalid(&visitor)),
            }
        }
    };
}

impl<'a> de::Deserializer<'a> for NodeDe<'a> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        let loc = self.0.loc;
        let result = match &self.0.kind {
            NodeKind::Scalar { text, plain: true } => {
                if is_null_text(text) {
                    visitor.visit_unit()
                } else if let Some(b) = parse_bool(text) {
                    visitor.visit_bool(b)
                } else if let Ok(i) = text.parse::<i64>() {
                    visitor.visit_i64(i)
                } else if let Ok(u) = text.parse::<u64>() {
                    visitor.visit_u64(u)
                } else if let Some(f) = parse_float(text) {
                    visitor.visit_f64(f)
                } else {
                    visitor.visit_str(text)
                }
            }
            NodeKind::Scalar { text, plain: false } => visitor.visit_str(text),
            NodeKind::Seq(items) => visitor.visit_seq(SeqAccess { iter: items.iter() }),
            NodeKind::Map(entries) => visitor.visit_map(MapAccess {
                iter: entries.iter(),
                value: None,
            }),
        };
        result.map_err(|e: DeError| e.at(loc))
    }

    fn deserialize_bool<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.scalar().and_then(|(t, _)| parse_bool(t)) {
            Some(b) => visitor.visit_bool(b).map_err(|e: DeError| e.at(self.0.loc)),
            None => Err(self.invalid(&visitor)),
        }
    }

    number!(deserialize_i8, visit_i8, i8);
    number!(deserialize_i16, visit_i16, i16);
    number!(deserialize_i32, visit_i32, i32);
    number!(deserialize_i64, visit_i64, i64);
    number!(deserialize_u8, visit_u8, u8);
    number!(deserialize_u16, visit_u16, u16);
    number!(deserialize_u32, visit_u32, u32);
    number!(deserialize_u64, visit_u64, u64);

    fn deserialize_f32<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.scalar().and_then(|(t, _)| parse_float(t.trim())) {
            Some(f) => visitor.visit_f64(f).map_err(|e: DeError| e.at(self.0.loc)),
            None => Err(self.invalid(&visitor)),
        }
    }

    fn deserialize_char<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.scalar() {
            Some((text, _)) => visitor
                .visit_str(text)
                .map_err(|e: DeError| e.at(self.0.loc)),
            None => Err(self.invalid(&visitor)),
        }
    }

    fn deserialize_string<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.0.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.0.is_null() {
            visitor.visit_unit()
        } else {
            Err(self.invalid(&visitor))
        }
    }

    fn deserialize_unit_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.0.kind {
            NodeKind::Seq(items) => visitor
                .visit_seq(SeqAccess { iter: items.iter() })
                .map_err(|e: DeError| e.at(self.0.loc)),
            _ => Err(self.invalid(&visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'a>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.0.kind {
            NodeKind::Map(entries) => visitor
                .visit_map(MapAccess {
                    iter: entries.iter(),
                    value: None,
                })
                .map_err(|e: DeError| e.at(self.0.loc)),
            // `key:` with nothing after it reads as an empty map.
            _ if self.0.is_null() => visitor
                .visit_map(MapAccess {
                    iter: [].iter(),
                    value: None,
                })
                .map_err(|e: DeError| e.at(self.0.loc)),
            _ => Err(self.invalid(&visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let loc = self.0.loc;
        match &self.0.kind {
            NodeKind::Scalar { text, .. } => visitor
                .visit_enum(text.as_str().into_deserializer())
                .map_err(|e: DeError| e.at(loc)),
            NodeKind::Map(entries) if entries.len() == 1 => {
                let (k, v) = &entries[0];
                visitor
                    .visit_enum(EnumAccess { key: k, value: v })
                    .map_err(|e: DeError| e.at(loc))
            }
            _ => Err(DeError {
                message: format!(
                    "expected a name or a map with one key, found {}",
                    self.0.describe()
                ),
                loc: Some(loc),
            }),
        }
    }

    fn deserialize_identifier<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim() {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

fn parse_float(text: &str) -> Option<f64> {
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" => Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => Some(f64::NAN),
        // Rust would accept `inf`/`nan`, which YAML spells differently.
        t if t.chars().any(|c| c.is_ascii_digit()) => t.parse().ok(),
        _ => None,
    }
}

struct SeqAccess<'a> {
    iter: std::slice::Iter<'a, Node>,
}

impl<'a> de::SeqAccess<'a> for SeqAccess<'a> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.iter.next() {
            Some(node) => seed
                .deserialize(NodeDe(node))
                .map(Some)
                .map_err(|e: DeError| e.at(node.loc)),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct MapAccess<'a> {
    iter: std::slice::Iter<'a, (Node, Node)>,
    value: Option<&'a Node>,
}

impl<'a> de::MapAccess<'a> for MapAccess<'a> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(NodeDe(k))
                    .map(Some)
                    .map_err(|e: DeError| e.at(k.loc))
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<T: DeserializeSeed<'a>>(&mut self, seed: T) -> Result<T::Value, DeError> {
        match self.value.take() {
            Some(v) => seed
                .deserialize(NodeDe(v))
                .map_err(|e: DeError| e.at(v.loc)),
            None => Err(de::Error::custom(
                "a map value was requested before its key",
            )),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct EnumAccess<'a> {
    key: &'a Node,
    value: &'a Node,
}

impl<'a> de::EnumAccess<'a> for EnumAccess<'a> {
    type Error = DeError;
    type Variant = VariantAccess<'a>;

    fn variant_seed<V: DeserializeSeed<'a>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), DeError> {
        let v = seed
            .deserialize(NodeDe(self.key))
            .map_err(|e: DeError| e.at(self.key.loc))?;
        Ok((v, VariantAccess { value: self.value }))
    }
}

struct VariantAccess<'a> {
    value: &'a Node,
}

impl<'a> de::VariantAccess<'a> for VariantAccess<'a> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'a>>(self, seed: T) -> Result<T::Value, DeError> {
        seed.deserialize(NodeDe(self.value))
            .map_err(|e: DeError| e.at(self.value.loc))
    }

    fn tuple_variant<V: Visitor<'a>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_seq(NodeDe(self.value), visitor)
    }

    fn struct_variant<V: Visitor<'a>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_map(NodeDe(self.value), visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::super::yaml::parse;
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        address: String,
        #[serde(default)]
        port: Option<u16>,
        #[serde(default)]
        mode: Mode,
        #[serde(default)]
        list: Vec<String>,
        #[serde(default)]
        ratio: f64,
        #[serde(default)]
        on: bool,
    }

    #[derive(Debug, Deserialize, PartialEq, Default)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        #[default]
        Block,
        DropNewest,
    }

    fn de(text: &str) -> Result<Sample, DeError> {
        let node = parse(text).unwrap();
        from_node(&node)
    }

    #[test]
    fn reads_typed_values() {
        let s =
            de("address: a\nport: '5044'\nmode: drop_newest\nlist: [x, y]\nratio: 0.5\non: true\n")
                .unwrap();
        assert_eq!(s.port, Some(5044));
        assert_eq!(s.mode, Mode::DropNewest);
        assert_eq!(s.list, vec!["x", "y"]);
        assert_eq!(s.ratio, 0.5);
        assert!(s.on);
    }

    #[test]
    fn unknown_key_points_at_the_key_and_lists_valid_ones() {
        let e = de("address: a\nadress: b\n").unwrap_err();
        assert_eq!(e.loc, Some(Loc { line: 2, column: 1 }));
        assert!(
            e.message.contains("unknown field `adress`"),
            "{}",
            e.message
        );
        assert!(e.message.contains("`address`"), "{}", e.message);
    }

    #[test]
    fn wrong_type_points_at_the_value() {
        let e = de("address: a\nport: lots\n").unwrap_err();
        assert_eq!(e.loc, Some(Loc { line: 2, column: 7 }));
        assert!(e.message.contains("u16"), "{}", e.message);
        let e = de("address: a\nmode: fast\n").unwrap_err();
        assert_eq!(e.loc, Some(Loc { line: 2, column: 7 }));
        assert!(e.message.contains("drop_newest"), "{}", e.message);
    }

    #[test]
    fn missing_field_points_at_the_map() {
        let e = de("port: 1\n").unwrap_err();
        assert_eq!(e.loc, Some(Loc { line: 1, column: 1 }));
        assert!(
            e.message.contains("missing field `address`"),
            "{}",
            e.message
        );
    }
}
