//! Array operations. Every method is lazy and returns `Err` with MLX's message when the
//! arguments are wrong (shapes that do not broadcast, axes out of range, ...).

use std::os::raw::c_int;
use std::ptr;

use super::array::{dims, ints, Array};
use super::dtype::Dtype;
use super::error::Result;
use super::ffi::{self, Binary, Reduce, Unary};

fn unary(op: &'static str, code: Unary, a: &Array) -> Result<Array> {
    Array::make(op, |out| unsafe { ffi::shim_unary(code, a.raw(), out) })
}

fn binary(op: &'static str, code: Binary, a: &Array, b: &Array) -> Result<Array> {
    Array::make(op, |out| unsafe {
        ffi::shim_binary(code, a.raw(), b.raw(), out)
    })
}

fn reduce(
    op: &'static str,
    code: Reduce,
    a: &Array,
    axes: Option<&[isize]>,
    keepdims: bool,
) -> Result<Array> {
    let (ax, n) = match axes {
        Some(axes) => {
            let ax = ints(op, axes)?;
            let n = ax.len() as i32;
            (ax, n)
        }
        None => (Vec::new(), -1),
    };
    Array::make(op, |out| unsafe {
        ffi::shim_reduce(code, a.raw(), ax.as_ptr(), n, keepdims, out)
    })
}

/// The shim's form of an op over one array and one list of i32 (a shape, axes, repetitions).
type ListFn = unsafe extern "C" fn(*const ffi::RawArray, *const i32, c_int, ffi::Out) -> c_int;

fn list_op(op: &'static str, f: ListFn, a: &Array, list: &[i32]) -> Result<Array> {
    // SAFETY: `list` outlives the call, which reads `list.len()` values.
    Array::make(op, |out| unsafe {
        f(a.raw(), list.as_ptr(), list.len() as i32, out)
    })
}

/// `a[start..stop:strides]`, or `a` with `update` written there.
fn strided(
    op: &'static str,
    a: &Array,
    update: Option<&Array>,
    start: &[isize],
    stop: &[isize],
    strides: &[isize],
) -> Result<Array> {
    let (lo, hi, step) = (ints(op, start)?, ints(op, stop)?, ints(op, strides)?);
    if lo.len() != hi.len() || lo.len() != step.len() {
        return Err(super::Error::new(
            op,
            "start, stop and strides differ in length",
        ));
    }
    let upd = update.map_or(ptr::null(), |u| u.raw().cast_const());
    // SAFETY: the three lists outlive the call and hold `lo.len()` values each.
    Array::make(op, |out| unsafe {
        ffi::shim_slice(
            a.raw(),
            upd,
            lo.as_ptr(),
            hi.as_ptr(),
            step.as_ptr(),
            lo.len() as i32,
            out,
        )
    })
}

macro_rules! unary_ops {
    ($($(#[$doc:meta])* $name:ident => $code:ident;)*) => {
        impl Array {
            $($(#[$doc])* pub fn $name(&self) -> Result<Array> {
                unary(stringify!($name), Unary::$code, self)
            })*
        }
    };
}

macro_rules! binary_ops {
    ($($(#[$doc:meta])* $name:ident => $code:ident;)*) => {
        impl Array {
            $($(#[$doc])* pub fn $name(&self, other: &Array) -> Result<Array> {
                binary(stringify!($name), Binary::$code, self, other)
            })*
        }
    };
}

unary_ops! {
    exp => Exp;
    log => Log;
    sin => Sin;
    cos => Cos;
    tanh => Tanh;
    sigmoid => Sigmoid;
    sqrt => Sqrt;
    rsqrt => Rsqrt;
    square => Square;
    abs => Abs;
    /// Elementwise `-x`.
    neg => Negative;
    erf => Erf;
    floor => Floor;
    ceil => Ceil;
    /// Rounds half to even, like `torch.round`.
    round => Round;
    log1p => Log1p;
    expm1 => Expm1;
    logical_not => LogicalNot;
    is_nan => IsNan;
    is_inf => IsInf;
    /// A row-major copy (no-op when already contiguous).
    contiguous => Contiguous;
    /// The array as 1-D.
    flatten => Flatten;
    stop_gradient => StopGradient;
}

binary_ops! {
    add => Add;
    sub => Subtract;
    mul => Multiply;
    div => Divide;
    /// Matrix product with numpy broadcasting over leading axes.
    matmul => Matmul;
    maximum => Maximum;
    minimum => Minimum;
    power => Power;
    eq => Equal;
    ne => NotEqual;
    lt => Less;
    le => LessEqual;
    gt => Greater;
    ge => GreaterEqual;
    bitwise_and => BitwiseAnd;
    bitwise_or => BitwiseOr;
    bitwise_xor => BitwiseXor;
    left_shift => LeftShift;
    right_shift => RightShift;
    logical_and => LogicalAnd;
    logical_or => LogicalOr;
    floor_divide => FloorDivide;
    remainder => Remainder;
}

/// Reductions over `axes` (`keepdims` keeps them as size 1); `name + name_all` adds the
/// reduction over every axis.
macro_rules! reductions {
    ($($(#[$doc:meta])* $name:ident $(+ $all:ident)? => $code:ident;)*) => {
        impl Array {
            $($(#[$doc])* pub fn $name(&self, axes: &[isize], keepdims: bool) -> Result<Array> {
                reduce(stringify!($name), Reduce::$code, self, Some(axes), keepdims)
            }
            $(#[doc = concat!("[`Array::", stringify!($name), "`] over every axis.")]
            pub fn $all(&self) -> Result<Array> {
                reduce(stringify!($name), Reduce::$code, self, None, false)
            })?)*
        }
    };
}

reductions! {
    sum + sum_all => Sum;
    mean + mean_all => Mean;
    max + max_all => Max;
    min => Min;
    /// Population variance (ddof 0).
    var => Var;
    logsumexp => LogSumExp;
}

impl Array {
    /// A scalar of this array's dtype (float32 for integer arrays), so arithmetic with
    /// constants never promotes bf16/f16 activations to float32.
    fn like_scalar(&self, value: f64) -> Result<Array> {
        let dtype = if self.dtype().is_float() {
            self.dtype()
        } else {
            Dtype::F32
        };
        Array::scalar(value, dtype)
    }

    /// Scalar of exactly this array's dtype (for integer/bitwise work).
    pub fn scalar_like(&self, value: f64) -> Result<Array> {
        Array::scalar(value, self.dtype())
    }

    pub fn add_scalar(&self, value: f64) -> Result<Array> {
        self.add(&self.like_scalar(value)?)
    }

    pub fn sub_scalar(&self, value: f64) -> Result<Array> {
        self.sub(&self.like_scalar(value)?)
    }

    pub fn mul_scalar(&self, value: f64) -> Result<Array> {
        self.mul(&self.like_scalar(value)?)
    }

    pub fn div_scalar(&self, value: f64) -> Result<Array> {
        self.div(&self.like_scalar(value)?)
    }

    /// `x * sigmoid(x)`.
    pub fn silu(&self) -> Result<Array> {
        self.mul(&self.sigmoid()?)
    }

    /// GELU with the tanh approximation (as `nn.GELU(approximate="tanh")`).
    pub fn gelu_tanh(&self) -> Result<Array> {
        let c = (2.0f64 / std::f64::consts::PI).sqrt();
        let inner = self.add(&self.power(&self.like_scalar(3.0)?)?.mul_scalar(0.044715)?)?;
        let t = inner.mul_scalar(c)?.tanh()?;
        self.mul(&t.add_scalar(1.0)?)?.mul_scalar(0.5)
    }

    /// `where(cond, self, other)`.
    pub fn where_(cond: &Array, x: &Array, y: &Array) -> Result<Array> {
        Array::make("where", |out| unsafe {
            ffi::shim_where(cond.raw(), x.raw(), y.raw(), out)
        })
    }

    /// Clips to `[lo, hi]`; either bound may be absent.
    pub fn clip(&self, lo: Option<f64>, hi: Option<f64>) -> Result<Array> {
        let lo = lo.map(|v| self.like_scalar(v)).transpose()?;
        let hi = hi.map(|v| self.like_scalar(v)).transpose()?;
        Array::make("clip", |out| unsafe {
            ffi::shim_clip(
                self.raw(),
                lo.as_ref().map_or(ptr::null(), |a| a.raw()),
                hi.as_ref().map_or(ptr::null(), |a| a.raw()),
                out,
            )
        })
    }

    pub fn astype(&self, dtype: Dtype) -> Result<Array> {
        Array::make("astype", |out| unsafe {
            ffi::shim_astype(self.raw(), dtype, out)
        })
    }

    /// The same bytes read as `dtype`: the last axis grows or shrinks by the ratio of the
    /// element sizes (a bit cast, e.g. pairs of uint8 as float16).
    pub fn view(&self, dtype: Dtype) -> Result<Array> {
        Array::make("view", |out| unsafe {
            ffi::shim_view(self.raw(), dtype, out)
        })
    }

    // ---- reductions with their own arguments (the plain ones: `reductions!` above) ------

    /// Softmax over `axes`, accumulated in float32 whatever the input dtype.
    pub fn softmax(&self, axes: &[isize]) -> Result<Array> {
        reduce("softmax", Reduce::Softmax, self, Some(axes), false)
    }

    pub fn all(&self) -> Result<Array> {
        reduce("all", Reduce::All, self, None, false)
    }

    pub fn any(&self) -> Result<Array> {
        reduce("any", Reduce::Any, self, None, false)
    }

    pub fn argmax(&self, axis: isize, keepdims: bool) -> Result<Array> {
        reduce("argmax", Reduce::ArgMax, self, Some(&[axis]), keepdims)
    }

    // ---- shapes ----------------------------------------------------------------------

    /// Reshape; one dimension may be given as `-1` through [`Array::reshape_infer`].
    pub fn reshape(&self, shape: &[usize]) -> Result<Array> {
        list_op("reshape", ffi::shim_reshape, self, &dims("reshape", shape)?)
    }

    /// Reshape where `-1` marks the one inferred dimension.
    pub fn reshape_infer(&self, shape: &[isize]) -> Result<Array> {
        list_op("reshape", ffi::shim_reshape, self, &ints("reshape", shape)?)
    }

    pub fn transpose(&self, axes: &[isize]) -> Result<Array> {
        list_op(
            "transpose",
            ffi::shim_transpose,
            self,
            &ints("transpose", axes)?,
        )
    }

    /// Swaps the last two axes (the matrix transpose).
    pub fn t(&self) -> Result<Array> {
        self.swapaxes(-1, -2)
    }

    pub fn swapaxes(&self, a: isize, b: isize) -> Result<Array> {
        let v = ints("swapaxes", &[a, b])?;
        Array::make("swapaxes", |out| unsafe {
            ffi::shim_swapaxes(self.raw(), v[0], v[1], out)
        })
    }

    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Array> {
        let d = dims("broadcast_to", shape)?;
        list_op("broadcast_to", ffi::shim_broadcast_to, self, &d)
    }

    pub fn expand_dims(&self, axes: &[isize]) -> Result<Array> {
        let ax = ints("expand_dims", axes)?;
        list_op("expand_dims", ffi::shim_expand_dims, self, &ax)
    }

    /// Removes the given size-1 axes (all of them when `axes` is empty).
    pub fn squeeze(&self, axes: &[isize]) -> Result<Array> {
        let ax = ints("squeeze", axes)?;
        let n = if axes.is_empty() { -1 } else { ax.len() as i32 };
        Array::make("squeeze", |out| unsafe {
            ffi::shim_squeeze(self.raw(), ax.as_ptr(), n, out)
        })
    }

    /// Strided slice: `start[i]..stop[i]` step `strides[i]` on every axis.
    pub fn slice(&self, start: &[isize], stop: &[isize], strides: &[isize]) -> Result<Array> {
        strided("slice", self, None, start, stop, strides)
    }

    /// `self[..., start..stop, ...]` on one axis.
    pub fn slice_axis(&self, axis: isize, start: usize, stop: usize) -> Result<Array> {
        let shape = self.shape();
        let n = shape.len() as isize;
        let ax = if axis < 0 { axis + n } else { axis };
        if ax < 0 || ax >= n {
            return Err(super::Error::new(
                "slice",
                format!("axis {axis} is out of bounds for an array of {n} dimensions"),
            ));
        }
        let mut lo = vec![0isize; shape.len()];
        let mut hi: Vec<isize> = shape.iter().map(|&d| d as isize).collect();
        lo[ax as usize] = start as isize;
        hi[ax as usize] = stop as isize;
        self.slice(&lo, &hi, &vec![1; shape.len()])
    }

    /// Writes `update` into `self[start..stop:strides]`, returning the new array.
    pub fn slice_update(
        &self,
        update: &Array,
        start: &[isize],
        stop: &[isize],
        strides: &[isize],
    ) -> Result<Array> {
        strided("slice_update", self, Some(update), start, stop, strides)
    }

    /// Gathers along `axis` (or from the flattened array when `axis` is `None`).
    pub fn take(&self, indices: &Array, axis: Option<isize>) -> Result<Array> {
        let ax = match axis {
            Some(a) => ints("take", &[a])?[0],
            None => i32::MIN,
        };
        Array::make("take", |out| unsafe {
            ffi::shim_take(self.raw(), indices.raw(), ax, out)
        })
    }

    pub fn take_along_axis(&self, indices: &Array, axis: isize) -> Result<Array> {
        let ax = ints("take_along_axis", &[axis])?[0];
        Array::make("take_along_axis", |out| unsafe {
            ffi::shim_take_along_axis(self.raw(), indices.raw(), ax, out)
        })
    }

    pub fn repeat(&self, repeats: usize, axis: isize) -> Result<Array> {
        let v = ints("repeat", &[repeats as isize, axis])?;
        Array::make("repeat", |out| unsafe {
            ffi::shim_repeat(self.raw(), v[0], v[1], out)
        })
    }

    pub fn tile(&self, reps: &[usize]) -> Result<Array> {
        list_op("tile", ffi::shim_tile, self, &dims("tile", reps)?)
    }

    /// Constant padding: `widths[i] = (axis, low, high)`.
    pub fn pad(&self, widths: &[(isize, usize, usize)], value: f64) -> Result<Array> {
        let axes = ints("pad", &widths.iter().map(|w| w.0).collect::<Vec<_>>())?;
        let lo = dims("pad", &widths.iter().map(|w| w.1).collect::<Vec<_>>())?;
        let hi = dims("pad", &widths.iter().map(|w| w.2).collect::<Vec<_>>())?;
        let v = self.scalar_like(value)?;
        Array::make("pad", |out| unsafe {
            ffi::shim_pad(
                self.raw(),
                axes.as_ptr(),
                lo.as_ptr(),
                hi.as_ptr(),
                axes.len() as i32,
                v.raw(),
                out,
            )
        })
    }

    /// Splits before each of `indices` along `axis` (`indices.len() + 1` parts).
    pub fn split_at(&self, indices: &[usize], axis: isize) -> Result<Vec<Array>> {
        let d = dims("split", indices)?;
        let ax = ints("split", &[axis])?[0];
        let mut outs = vec![ptr::null_mut(); indices.len() + 1];
        let status = unsafe {
            ffi::shim_split(
                self.raw(),
                d.as_ptr(),
                d.len() as i32,
                ax,
                outs.as_mut_ptr(),
            )
        };
        super::error::check("split", status)?;
        outs.into_iter()
            .map(|raw| Array::from_raw("split", 0, raw))
            .collect()
    }

    /// Splits into `parts` equal pieces along `axis`.
    pub fn split_equal(&self, parts: usize, axis: isize) -> Result<Vec<Array>> {
        let len = self.dim(axis)?;
        if parts == 0 || len % parts != 0 {
            return Err(super::Error::new(
                "split",
                format!("cannot split axis of size {len} into {parts} equal parts"),
            ));
        }
        let step = len / parts;
        self.split_at(&(1..parts).map(|i| i * step).collect::<Vec<_>>(), axis)
    }

    // ---- linear algebra ---------------------------------------------------------------

    /// `beta * self + alpha * (a @ b)` in one call (a fused BLAS gemm on CPU).
    pub fn addmm(&self, a: &Array, b: &Array, alpha: f32, beta: f32) -> Result<Array> {
        Array::make("addmm", |out| unsafe {
            ffi::shim_addmm(self.raw(), a.raw(), b.raw(), alpha, beta, out)
        })
    }

    /// 2-D convolution, NHWC input and OHWI weight (MLX layout).
    pub fn conv2d(
        &self,
        weight: &Array,
        stride: (usize, usize),
        padding: (usize, usize),
        dilation: (usize, usize),
        groups: usize,
    ) -> Result<Array> {
        let v = dims(
            "conv2d",
            &[
                stride.0, stride.1, padding.0, padding.1, dilation.0, dilation.1, groups,
            ],
        )?;
        Array::make("conv2d", |out| unsafe {
            ffi::shim_conv2d(
                self.raw(),
                weight.raw(),
                v[0],
                v[1],
                v[2],
                v[3],
                v[4],
                v[5],
                v[6],
                out,
            )
        })
    }
}

fn raw_list(arrays: &[&Array]) -> Vec<*mut ffi::RawArray> {
    arrays.iter().map(|a| a.raw()).collect()
}

/// Joins arrays along an existing axis.
pub fn concatenate(arrays: &[&Array], axis: isize) -> Result<Array> {
    let raws = raw_list(arrays);
    let ax = ints("concatenate", &[axis])?[0];
    Array::make("concatenate", |out| unsafe {
        ffi::shim_concatenate(raws.as_ptr(), raws.len(), ax, out)
    })
}

/// Joins arrays along a new axis.
pub fn stack(arrays: &[&Array], axis: isize) -> Result<Array> {
    let raws = raw_list(arrays);
    let ax = ints("stack", &[axis])?[0];
    Array::make("stack", |out| unsafe {
        ffi::shim_stack(raws.as_ptr(), raws.len(), ax, out)
    })
}

/// `[start, stop)` in steps of `step`.
pub fn arange(start: f64, stop: f64, step: f64, dtype: Dtype) -> Result<Array> {
    Array::make("arange", |out| unsafe {
        ffi::shim_arange(start, stop, step, dtype, out)
    })
}

/// `num` evenly spaced values from `start` to `stop` inclusive.
pub fn linspace(start: f64, stop: f64, num: usize, dtype: Dtype) -> Result<Array> {
    let n = dims("linspace", &[num])?[0];
    Array::make("linspace", |out| unsafe {
        ffi::shim_linspace(start, stop, n, dtype, out)
    })
}

pub fn full(shape: &[usize], value: f64, dtype: Dtype) -> Result<Array> {
    let d = dims("full", shape)?;
    Array::make("full", |out| unsafe {
        ffi::shim_full(d.as_ptr(), d.len() as i32, value, dtype, out)
    })
}

pub fn zeros(shape: &[usize], dtype: Dtype) -> Result<Array> {
    full(shape, 0.0, dtype)
}

pub fn ones(shape: &[usize], dtype: Dtype) -> Result<Array> {
    full(shape, 1.0, dtype)
}
