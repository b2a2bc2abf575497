//! Reads the published speech-embedding network (`embedding_model.onnx` from the
//! `openwakeword` 0.4.0 wheel; a copy is in `models/speech-embedding/`) into the core's
//! [`SpeechEmbedding`]. Only what this one graph needs is decoded: the order of its nodes,
//! their initialisers and two attributes. Anything else is refused with a message, so a
//! different network cannot be loaded by mistake.

use prost::Message;
use speech_emotion::speech_embedding::{SpeechEmbedding, SpeechEmbeddingWeights};
use std::collections::HashMap;
use std::path::Path;

// The few ONNX protobuf fields read here (onnx.proto3 tag numbers); the rest is skipped.
#[derive(Clone, PartialEq, Message)]
struct ModelProto {
    #[prost(message, optional, tag = "7")]
    graph: Option<GraphProto>,
}

#[derive(Clone, PartialEq, Message)]
struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    node: Vec<NodeProto>,
    #[prost(message, repeated, tag = "5")]
    initializer: Vec<TensorProto>,
}

#[derive(Clone, PartialEq, Message)]
struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    input: Vec<String>,
    #[prost(string, tag = "4")]
    op_type: String,
    #[prost(message, repeated, tag = "5")]
    attribute: Vec<AttributeProto>,
}

#[derive(Clone, PartialEq, Message)]
struct AttributeProto {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(float, tag = "2")]
    f: f32,
}

#[derive(Clone, PartialEq, Message)]
struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    data_type: i32,
    #[prost(float, repeated, tag = "4")]
    float_data: Vec<f32>,
    #[prost(string, tag = "8")]
    name: String,
    #[prost(bytes = "vec", tag = "9")]
    raw_data: Vec<u8>,
}

const FLOAT: i32 = 1;

impl TensorProto {
    fn floats(&self) -> Result<Vec<f32>, String> {
        if self.data_type != FLOAT {
            return Err(format!("{}: not a float tensor", self.name));
        }
        if !self.float_data.is_empty() {
            return Ok(self.float_data.clone());
        }
        if !self.raw_data.len().is_multiple_of(4) {
            return Err(format!("{}: raw data is not whole floats", self.name));
        }
        Ok(self
            .raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect())
    }
}

/// The network's parameters from the ONNX file at `path`, checked against the architecture.
pub fn read(path: &Path) -> Result<SpeechEmbeddingWeights, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&bytes).map_err(|e| {
        format!(
            "{} is not the speech-embedding network (embedding_model.onnx of openwakeword 0.4.0): {e}",
            path.display()
        )
    })
}

fn parse(bytes: &[u8]) -> Result<SpeechEmbeddingWeights, String> {
    let model = ModelProto::decode(bytes).map_err(|e| format!("not an ONNX model ({e})"))?;
    let graph = model.graph.ok_or("the file has no graph")?;
    let init: HashMap<&str, &TensorProto> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    let tensor = |name: &str| -> Result<Vec<f32>, String> {
        init.get(name)
            .ok_or_else(|| format!("no initialiser named {name}"))?
            .floats()
    };
    let count = |op: &str| graph.node.iter().filter(|n| n.op_type == op).count();
    for (op, n) in [
        ("Conv", 20),
        ("LeakyRelu", 19),
        ("Max", 19),
        ("MaxPool", 5),
        ("BatchNormalization", 1),
    ] {
        if count(op) != n {
            return Err(format!("{} {op} nodes, expected {n}", count(op)));
        }
    }
    for node in &graph.node {
        let alpha = node.attribute.iter().find(|a| a.name == "alpha");
        if node.op_type == "LeakyRelu" && alpha.is_some_and(|a| (a.f - 0.2).abs() > 1e-6) {
            return Err("a LeakyRelu slope is not 0.2".into());
        }
        if node.op_type == "Max" {
            let floor = node.input.get(1).map(|n| tensor(n)).transpose()?;
            if floor.is_none_or(|f| f.len() != 1 || (f[0] + 0.4).abs() > 1e-6) {
                return Err("a Max node is not max(x, -0.4)".into());
            }
        }
    }
    // Convs in graph order: the 3×3 one, 18 with biases, the last one.
    let convs: Vec<&NodeProto> = graph.node.iter().filter(|n| n.op_type == "Conv").collect();
    let weight = |n: &NodeProto| tensor(n.input.get(1).ok_or("a Conv has no weight")?);
    let bias = |n: &NodeProto| tensor(n.input.get(2).ok_or("a middle Conv has no bias")?);
    let norm = graph
        .node
        .iter()
        .find(|n| n.op_type == "BatchNormalization")
        .expect("counted above");
    let epsilon = norm
        .attribute
        .iter()
        .find(|a| a.name == "epsilon")
        .map_or(1e-5, |a| a.f);
    let input = |i: usize| tensor(norm.input.get(i).ok_or("batch norm input missing")?);
    let (gamma, beta, mean, var) = (input(1)?, input(2)?, input(3)?, input(4)?);
    let first_scale: Vec<f32> = gamma
        .iter()
        .zip(&var)
        .map(|(g, v)| g / (v + epsilon).sqrt())
        .collect();
    let first_shift = beta
        .iter()
        .zip(&mean)
        .zip(&first_scale)
        .map(|((b, m), s)| b - m * s)
        .collect();
    Ok(SpeechEmbeddingWeights {
        first: weight(convs[0])?,
        first_scale,
        first_shift,
        layers: convs[1..19]
            .iter()
            .map(|n| Ok((weight(n)?, bias(n)?)))
            .collect::<Result<_, String>>()?,
        last: weight(convs[19])?,
    })
}

/// The network ready to run on `device`.
pub fn load(path: &Path, device: &burn::prelude::Device) -> Result<SpeechEmbedding, String> {
    SpeechEmbedding::from_weights(read(path)?, device)
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::prelude::*;
    use speech_emotion::speech_embedding::{N_MELS, SpeechFrontEnd};

    fn root() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    fn floats(name: &str) -> Vec<f32> {
        let path = root().join("tests/fixtures/speech_embedding").join(name);
        std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect()
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    /// Our front end and network against onnxruntime running the published ONNX models on the
    /// same 3 s of speech (fixtures made by `make_reference.py`).
    #[test]
    fn matches_onnxruntime() {
        let input = floats("input.f32");
        let front = SpeechFrontEnd::new(16_000, input.len(), None, false);
        let mel = front.mel(&input).unwrap();
        let expected_mel = floats("mel.f32");
        assert_eq!(front.frames() * N_MELS, expected_mel.len());
        let d = max_diff(&mel, &expected_mel);
        assert!(d < 1e-4, "mel differs by {d}");

        let device = Device::flex();
        let net = load(
            &root().join("models/speech-embedding/embedding_model.onnx"),
            &device,
        )
        .unwrap();
        let x = Tensor::<3>::from_data(
            TensorData::new(expected_mel, [1, front.frames(), N_MELS]),
            &device,
        );
        let got = net.forward(x).into_data().try_to_vec::<f32>().unwrap();
        let expected = floats("embeddings.f32");
        let d = max_diff(&got, &expected);
        let scale = expected.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(d < 1e-3, "embeddings differ by {d} (largest {scale})");
    }

    #[test]
    fn refuses_other_files() {
        assert!(parse(b"not a model").is_err());
        let empty = ModelProto {
            graph: Some(GraphProto::default()),
        }
        .encode_to_vec();
        let e = parse(&empty).err().unwrap();
        assert!(e.contains("Conv"), "{e}");
    }
}
