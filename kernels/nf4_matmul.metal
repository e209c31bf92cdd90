// NF4 matrix-matrix product for many activation rows: y[m, n] = sum_k x[m, k] * W[n, k].
// Same inputs, outputs and scale forms as nf4_matvec.metal.
//
// A threadgroup of 16x16 threads computes a 32x32 tile of y (2x2 outputs per thread). For
// each 32-wide slice of k it stages x[32 rows, 32 k] and the dequantised W[32 features, 32 k]
// (rounded to T, held as float32) in threadgroup memory, then every thread adds the slice's
// products to its accumulators in k order. The last slice is cut to K (no padded terms), so
// each output is the plain sequential float32 dot product over k = 0..K-1.
const uint M = dims[0];
const uint N = dims[1];
const uint K = dims[2];
const uint BS = dims[3];
const uint tx = thread_position_in_threadgroup.x;
const uint ty = thread_position_in_threadgroup.y;
const uint tid = ty * 16u + tx;
const uint n0 = threadgroup_position_in_grid.x * 32u;
const uint m0 = threadgroup_position_in_grid.y * 32u;
threadgroup float xs[32][33];
threadgroup float ws[32][33];
float acc00 = 0.0f;
float acc01 = 0.0f;
float acc10 = 0.0f;
float acc11 = 0.0f;
for (uint k0 = 0; k0 < K; k0 += 32u) {
  for (uint i = tid; i < 1024u; i += 256u) {
    const uint r = i / 32u;
    const uint c = i % 32u;
    const uint k = k0 + c;
    const uint m = m0 + r;
    xs[r][c] = (m < M && k < K) ? float(x[m * K + k]) : 0.0f;
    const uint n = n0 + r;
    float w = 0.0f;
    if (n < N && k < K) {
      const uint e = n * K + k;
      const uint b = e / BS;
#if NF4_NESTED
      const float scale = qmap[codes[b]] * qscales[b / dims[4]] + qoffset[0];
#else
      const float scale = absmax[b];
#endif
      w = float(T(NF4_CODE[nf4_code(packed, e)] * scale));
    }
    ws[r][c] = w;
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  const uint kn = min(32u, K - k0);
  for (uint kk = 0; kk < kn; ++kk) {
    const float x0 = xs[ty * 2u][kk];
    const float x1 = xs[ty * 2u + 1u][kk];
    const float w0 = ws[tx * 2u][kk];
    const float w1 = ws[tx * 2u + 1u][kk];
    acc00 = acc00 + x0 * w0;
    acc01 = acc01 + x0 * w1;
    acc10 = acc10 + x1 * w0;
    acc11 = acc11 + x1 * w1;
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
}
const uint m = m0 + ty * 2u;
const uint n = n0 + tx * 2u;
if (m < M && n < N) {
  y[m * N + n] = T(acc00);
}
if (m < M && n + 1u < N) {
  y[m * N + n + 1u] = T(acc01);
}
if (m + 1u < M && n < N) {
  y[(m + 1u) * N + n] = T(acc10);
}
if (m + 1u < M && n + 1u < N) {
  y[(m + 1u) * N + n + 1u] = T(acc11);
}
