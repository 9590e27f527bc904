//! Reading a node's attributes with errors that name the node, its operator
//! and the attribute.

use onnx_rs::ast::{Attribute, AttributeType, Node};
use weft_device::{Error, Result};

use crate::tensor::{self, Const};

/// A node being converted: its label for errors and its attributes.
pub(crate) struct NodeRef<'n, 'a> {
    pub node: &'n Node<'a>,
    /// `node "conv1" (Conv)`.
    pub label: String,
}

impl<'n, 'a> NodeRef<'n, 'a> {
    pub fn new(node: &'n Node<'a>, index: usize) -> Self {
        let name = if node.name.is_empty() {
            node.output
                .first()
                .map(|s| s.to_string())
                .unwrap_or_else(|| format!("#{index}"))
        } else {
            node.name.to_string()
        };
        NodeRef {
            node,
            label: format!("node \"{name}\" ({})", node.op_type.as_str()),
        }
    }

    fn get(&self, name: &str) -> Option<&'n Attribute<'a>> {
        self.node.attribute.iter().find(|a| a.name == name)
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn int(&self, name: &str, default: i64) -> Result<i64> {
        match self.get(name) {
            None => Ok(default),
            Some(a) if a.r#type == AttributeType::Int => Ok(a.i),
            Some(a) => Err(self.wrong_type(name, "an int", a)),
        }
    }

    pub fn float(&self, name: &str, default: f32) -> Result<f32> {
        match self.get(name) {
            None => Ok(default),
            Some(a) if a.r#type == AttributeType::Float => Ok(a.f),
            Some(a) => Err(self.wrong_type(name, "a float", a)),
        }
    }

    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>> {
        match self.get(name) {
            None => Ok(None),
            Some(a) if a.r#type == AttributeType::Ints => Ok(Some(a.ints.clone())),
            Some(a) => Err(self.wrong_type(name, "a list of ints", a)),
        }
    }

    pub fn floats(&self, name: &str) -> Result<Option<Vec<f32>>> {
        match self.get(name) {
            None => Ok(None),
            Some(a) if a.r#type == AttributeType::Floats => Ok(Some(a.floats.clone())),
            Some(a) => Err(self.wrong_type(name, "a list of floats", a)),
        }
    }

    pub fn string(&self, name: &str, default: &str) -> Result<String> {
        match self.get(name) {
            None => Ok(default.to_string()),
            Some(a) if a.r#type == AttributeType::String => {
                Ok(String::from_utf8_lossy(a.s).into_owned())
            }
            Some(a) => Err(self.wrong_type(name, "a string", a)),
        }
    }

    pub fn tensor(&self, name: &str) -> Result<Option<Const>> {
        match self.get(name) {
            None => Ok(None),
            Some(a) if a.r#type == AttributeType::Tensor => match &a.t {
                Some(t) => tensor::decode(t, &format!("{} attribute {name}", self.label)).map(Some),
                None => Err(self.invalid(name, "holds no tensor")),
            },
            Some(a) => Err(self.wrong_type(name, "a tensor", a)),
        }
    }

    /// Positive per-axis sizes (`strides`, `dilations`, `kernel_shape`) of a 2-D op.
    pub fn pair(&self, name: &str, default: usize) -> Result<[usize; 2]> {
        self.axes(name, default, 2)
    }

    /// Positive per-axis sizes of an op over `rank` (1 or 2) spatial axes,
    /// as 2-D sizes: a 1-D op's single axis is the width, its height 1.
    pub fn axes(&self, name: &str, default: usize, rank: usize) -> Result<[usize; 2]> {
        match self.ints(name)? {
            None => Ok([if rank == 1 { 1 } else { default }, default]),
            Some(v) if v.len() == rank && v.iter().all(|&x| x >= 1) => Ok(match rank {
                1 => [1, v[0] as usize],
                _ => [v[0] as usize, v[1] as usize],
            }),
            Some(v) => Err(self.invalid(
                name,
                format!("expected {rank} positive values (a {rank}-D operator), got {v:?}"),
            )),
        }
    }

    /// Rejects an attribute weft would have to ignore, unless it has its
    /// default value.
    pub fn require_default(&self, name: &str, default: i64) -> Result<()> {
        let v = self.int(name, default)?;
        if v != default {
            return Err(self.unsupported(format!("attribute {name} = {v}")));
        }
        Ok(())
    }

    pub fn invalid(&self, attr: &str, message: impl Into<String>) -> Error {
        Error::invalid(self.label.clone(), attr, message)
    }

    pub fn unsupported(&self, message: impl Into<String>) -> Error {
        Error::unsupported(self.label.clone(), message)
    }

    fn wrong_type(&self, name: &str, want: &str, a: &Attribute<'_>) -> Error {
        self.invalid(name, format!("expected {want}, got {:?}", a.r#type))
    }
}
