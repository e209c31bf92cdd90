//! Caller mistakes come back as `Err` carrying MLX's own message, never an abort.

use ideogram4::mlx::{self, fast, metal, Array, Dtype};

#[test]
fn shape_mismatch_returns_mlx_message() {
    let a = Array::from_slice(&[1.0f32; 6], &[2, 3]).unwrap();
    let b = Array::from_slice(&[1.0f32; 8], &[2, 4]).unwrap();
    let err = a.matmul(&b).unwrap_err();
    assert_eq!(err.op, "matmul");
    assert!(
        err.message.contains("[matmul]"),
        "MLX message kept verbatim: {err}"
    );
    let err = a.add(&b).unwrap_err();
    assert!(err.message.contains("broadcast"), "{err}");
    let err = a.reshape(&[5]).unwrap_err();
    assert!(err.message.contains("reshape"), "{err}");
    assert!(a.transpose(&[0, 0]).is_err());
    assert!(a.sum(&[5], false).is_err());
    assert!(a.squeeze(&[0]).is_err());
    assert!(mlx::concatenate(&[], 0).is_err());
    assert!(a.slice(&[0], &[1, 1], &[1]).is_err());
    let x = Array::from_slice(&[1.0f32; 4], &[1, 2, 2, 1]).unwrap();
    let w = Array::from_slice(&[1.0f32; 8], &[1, 2, 2, 2]).unwrap();
    assert!(
        x.conv2d(&w, (1, 1), (0, 0), (1, 1), 1).is_err(),
        "channel mismatch"
    );
    // The message is displayed with the op name.
    assert!(a
        .matmul(&b)
        .unwrap_err()
        .to_string()
        .starts_with("MLX matmul: "));
}

#[test]
fn fast_ops_reject_bad_arguments() {
    let q = Array::from_slice(&[0.0f32; 8], &[1, 1, 2, 4]).unwrap();
    let k = Array::from_slice(&[0.0f32; 6], &[1, 1, 2, 3]).unwrap();
    assert!(fast::scaled_dot_product_attention(&q, &k, &k, 1.0, fast::Mask::None).is_err());
    let w = Array::from_slice(&[1.0f32; 3], &[3]).unwrap();
    assert!(fast::rms_norm(&q, Some(&w), 1e-6).is_err());
}

#[test]
fn metal_kernels_build_but_need_metal_to_run() {
    let k = metal::MetalKernel::new(
        "add_one",
        &["inp"],
        &["out"],
        "uint i = thread_position_in_grid.x; out[i] = inp[i] + 1;",
        "",
        true,
        false,
    )
    .unwrap();
    let x = Array::from_slice(&[1.0f32; 4], &[4]).unwrap();
    let res = k.call(&metal::Launch {
        inputs: &[&x],
        output_shapes: &[vec![4]],
        output_dtypes: &[Dtype::F32],
        grid: (4, 1, 1),
        threadgroup: (4, 1, 1),
        template: &[("T", metal::TemplateArg::Dtype(Dtype::F32))],
        init_value: None,
    });
    if mlx::device::gpu_available() {
        assert_eq!(res.unwrap()[0].to_vec::<f32>().unwrap(), vec![2.0; 4]);
    } else {
        let err = res.expect_err("no Metal back-end here");
        assert!(err.message.contains("Metal"), "{err}");
    }
}
