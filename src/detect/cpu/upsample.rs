//! Nearest-neighbour upsampling by whole factors, rewritten as a broadcast before tract
//! optimizes the model.
//!
//! tract 0.22 evaluates ONNX `Resize` with a generic loop that maps coordinates and
//! interpolates for every output value: the two 2x upsamplings in YOLOX-Nano's neck took
//! ~15% of an inference (30 of 206 ms, `cargo bench --bench detector -- --profile`). A
//! Resize node that is in fact a plain repeat of its input becomes add-axis + broadcast +
//! reshape, which is a copy. Whether a node is such a repeat is decided by running the node
//! itself on a probe tensor, so any coordinate mode, rounding or interpolation that does not
//! give an exact repeat keeps its Resize.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::array::MultiBroadcastTo;
use tract_onnx::tract_core::ops::change_axes::AxisOp;

/// Rewrites every integer-factor nearest-neighbour `Resize` of an NCHW f32 tensor; returns
/// how many were rewritten.
pub fn rewrite_upsampling(model: &mut TypedModel) -> TractResult<usize> {
    let resizes: Vec<usize> = model
        .nodes()
        .iter()
        .filter(|n| n.op().name() == "Resize")
        .map(|n| n.id)
        .collect();
    let mut rewritten = 0;
    for id in resizes {
        let Some(shape) = repeat_shape(model, id)? else {
            continue;
        };
        let [_, _, h, fh, w, fw] = shape;
        let node = model.node(id);
        let name = node.name.clone();
        let mut patch = TypedModelPatch::default();
        let mut x = patch.tap_model(model, node.inputs[0])?;
        // [n, c, h, w] -> [n, c, h, 1, w, 1] -> [n, c, h, fh, w, fw] -> [n, c, h*fh, w*fw]
        x = patch.wire_node(format!("{name}.rows"), AxisOp::Add(3), &[x])?[0];
        x = patch.wire_node(format!("{name}.cols"), AxisOp::Add(5), &[x])?[0];
        let full = MultiBroadcastTo {
            shape: ShapeFact::from_dims(shape),
        };
        x = patch.wire_node(format!("{name}.repeat"), full, &[x])?[0];
        let merge = AxisOp::Reshape(
            2,
            tvec![h.to_dim(), fh.to_dim(), w.to_dim(), fw.to_dim()],
            tvec![(h * fh).to_dim(), (w * fw).to_dim()],
        );
        x = patch.wire_node(format!("{name}.merge"), merge, &[x])?[0];
        patch.shunt_outside(model, OutletId::new(id, 0), x)?;
        patch.apply(model)?;
        rewritten += 1;
    }
    Ok(rewritten)
}

/// `[n, c, h, fh, w, fw]` when node `id` turns an f32 `[n, c, h, w]` into exactly each value
/// repeated `fh` x `fw` times, else None.
fn repeat_shape(model: &TypedModel, id: usize) -> TractResult<Option<[usize; 6]>> {
    let node = model.node(id);
    let (Some(&input), Ok(out)) = (node.inputs.first(), model.outlet_fact(OutletId::new(id, 0)))
    else {
        return Ok(None);
    };
    let in_fact = model.outlet_fact(input)?;
    let (Some(i), Some(o)) = (in_fact.shape.as_concrete(), out.shape.as_concrete()) else {
        return Ok(None);
    };
    let ([n, c, h, w], [on, oc, oh, ow]) = (i, o) else {
        return Ok(None);
    };
    if in_fact.datum_type != f32::datum_type()
        || (n, c) != (on, oc)
        || *h == 0
        || *w == 0
        || oh % h != 0
        || ow % w != 0
        || (oh / h, ow / w) == (1, 1)
    {
        return Ok(None);
    }
    let (fh, fw) = (oh / h, ow / w);
    // The other inputs (roi, scales, sizes) must be constants for the probe to say anything.
    let mut inputs: TVec<TValue> = tvec![];
    let len = n * c * h * w;
    // Distinct values (exact in f32 below 2^24) so any other mapping shows.
    if len >= 1 << 24 {
        return Ok(None);
    }
    let probe: Vec<f32> = (0..len).map(|v| v as f32).collect();
    inputs.push(Tensor::from_shape(i, &probe)?.into_tvalue());
    for extra in &node.inputs[1..] {
        match &model.outlet_fact(*extra)?.konst {
            Some(k) => inputs.push(k.clone().into_tvalue()),
            None => return Ok(None),
        }
    }
    let Ok(result) = node.op.eval(inputs) else {
        return Ok(None);
    };
    let Some(got) = result.first().and_then(|t| t.as_slice::<f32>().ok()) else {
        return Ok(None);
    };
    let (oh, ow) = (*oh, *ow);
    let repeats = got.len() == len * fh * fw
        && got.iter().enumerate().all(|(k, &v)| {
            let (plane, rest) = (k / (oh * ow), k % (oh * ow));
            let (y, x) = (rest / ow, rest % ow);
            v == probe[plane * h * w + (y / fh) * w + x / fw]
        });
    Ok(repeats.then_some([*n, *c, *h, fh, *w, fw]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::pb;
    use tract_onnx::pb::attribute_proto::AttributeType;

    /// A one-node ONNX model: Resize of a [1, 2, 3, 4] input by `scales`, with `attrs`.
    fn resize_model(scales: [f32; 4], attrs: &[(&str, &str)]) -> InferenceModel {
        let attribute = attrs
            .iter()
            .map(|(k, v)| pb::AttributeProto {
                name: k.to_string(),
                r#type: AttributeType::String as i32,
                s: v.as_bytes().to_vec(),
                ..Default::default()
            })
            .collect();
        let graph = pb::GraphProto {
            node: vec![pb::NodeProto {
                input: vec!["x".into(), String::new(), "scales".into()],
                output: vec!["y".into()],
                name: "up".into(),
                op_type: "Resize".into(),
                attribute,
                ..Default::default()
            }],
            initializer: vec![pb::TensorProto {
                name: "scales".into(),
                dims: vec![4],
                data_type: 1, // FLOAT
                float_data: scales.to_vec(),
                ..Default::default()
            }],
            input: vec![pb::ValueInfoProto {
                name: "x".into(),
                r#type: Some(float_tensor(&[1, 2, 3, 4])),
                ..Default::default()
            }],
            output: vec![pb::ValueInfoProto {
                name: "y".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let proto = pb::ModelProto {
            ir_version: 8,
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: 13,
            }],
            graph: Some(graph),
            ..Default::default()
        };
        tract_onnx::onnx()
            .model_for_proto_model(&proto)
            .and_then(|m| m.with_input_fact(0, f32::fact([1, 2, 3, 4]).into()))
            .expect("test model")
    }

    fn float_tensor(dims: &[i64]) -> pb::TypeProto {
        use pb::tensor_shape_proto::{Dimension, dimension};
        let dim = dims
            .iter()
            .map(|&d| Dimension {
                value: Some(dimension::Value::DimValue(d)),
                ..Default::default()
            })
            .collect();
        pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: 1, // FLOAT
                shape: Some(pb::TensorShapeProto { dim }),
            })),
            ..Default::default()
        }
    }

    /// (Resize nodes rewritten, whether the optimized rewritten model computes exactly what
    /// the untouched one does).
    fn rewrite_and_compare(scales: [f32; 4], attrs: &[(&str, &str)]) -> (usize, bool) {
        let typed = resize_model(scales, attrs)
            .into_typed()
            .and_then(|m| m.into_decluttered())
            .expect("typed");
        let mut rewritten = typed.clone();
        let n = rewrite_upsampling(&mut rewritten).expect("rewrite");
        let x = Tensor::from_shape(
            &[1, 2, 3, 4],
            &(0..24).map(|v| v as f32).collect::<Vec<_>>(),
        )
        .expect("input");
        let run = |m: TypedModel| {
            m.into_optimized()
                .and_then(|m| m.into_runnable())
                .and_then(|p| p.run(tvec![x.clone().into()]))
                .expect("run")
                .remove(0)
                .into_tensor()
        };
        let (a, b) = (run(typed), run(rewritten));
        (
            n,
            a == b && a.shape() == [1, 2, 3 * scales[2] as usize, 4 * scales[3] as usize],
        )
    }

    #[test]
    fn whole_factor_nearest_resizes_become_a_broadcast_with_the_same_output() {
        let asymmetric_floor = [
            ("mode", "nearest"),
            ("coordinate_transformation_mode", "asymmetric"),
            ("nearest_mode", "floor"),
        ];
        assert_eq!(
            rewrite_and_compare([1.0, 1.0, 2.0, 2.0], &asymmetric_floor),
            (1, true)
        );
        assert_eq!(
            rewrite_and_compare([1.0, 1.0, 2.0, 3.0], &asymmetric_floor),
            (1, true)
        );
        // ONNX defaults (half_pixel, round_prefer_floor) also repeat each value.
        assert_eq!(rewrite_and_compare([1.0, 1.0, 2.0, 2.0], &[]), (1, true));
    }

    #[test]
    fn resizes_that_are_not_a_plain_repeat_are_kept() {
        // Rounding half up moves every odd output to the next input.
        let ceil = [
            ("mode", "nearest"),
            ("coordinate_transformation_mode", "asymmetric"),
            ("nearest_mode", "round_prefer_ceil"),
        ];
        assert_eq!(rewrite_and_compare([1.0, 1.0, 2.0, 2.0], &ceil), (0, true));
        assert_eq!(
            rewrite_and_compare([1.0, 1.0, 2.0, 2.0], &[("mode", "linear")]),
            (0, true)
        );
    }
}
