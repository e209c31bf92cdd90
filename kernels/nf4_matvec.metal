// NF4 matrix-vector product for few activation rows: y[m, n] = sum_k x[m, k] * W[n, k],
// m < M <= NF4_MV_ROWS (text-encoder prompts are longer; they take nf4_matmul).
//
// Inputs: x [M, K] (T), packed [ceil(N*K/2)] (uint8), the block scales, dims [5] (uint32:
// M, N, K, BS, NBS); output y [M, N] (T). Scales: absmax [nblocks] (float32), or with
// NF4_NESTED the double-quantised form codes [nblocks] (uint8) into qmap [256] (float32),
// times qscales [ceil(nblocks / NBS)] (float32), plus qoffset [1] (float32).
//
// One simdgroup per output feature n, NF4_MV_SIMDS simdgroups per threadgroup. Lane l
// accumulates, in order, the elements k = 256*i + 8*l + j (j < 8) of row n in float32; the
// 32 lane sums are then combined by an xor butterfly (offsets 16, 8, 4, 2, 1), so the order
// of every addition is fixed and the CPU reference can repeat it exactly. Simdgroups past N
// still take part in the shuffles (uniform control flow) and write nothing.
const uint M = dims[0];
const uint N = dims[1];
const uint K = dims[2];
const uint BS = dims[3];
const uint lane = thread_index_in_simdgroup;
const uint n = threadgroup_position_in_grid.x * NF4_MV_SIMDS + simdgroup_index_in_threadgroup;
float acc[NF4_MV_ROWS];
for (uint m = 0; m < NF4_MV_ROWS; ++m) {
  acc[m] = 0.0f;
}
if (n < N) {
  const uint row = n * K;
  for (uint k0 = lane * 8u; k0 < K; k0 += 256u) {
    const uint kend = min(k0 + 8u, K);
    for (uint k = k0; k < kend; ++k) {
      const uint e = row + k;
      const uint b = e / BS;
#if NF4_NESTED
      const float scale = qmap[codes[b]] * qscales[b / dims[4]] + qoffset[0];
#else
      const float scale = absmax[b];
#endif
      const float w = float(T(NF4_CODE[nf4_code(packed, e)] * scale));
      for (uint m = 0; m < M; ++m) {
        acc[m] = acc[m] + float(x[m * K + k]) * w;
      }
    }
  }
}
for (uint m = 0; m < M; ++m) {
  float v = acc[m];
  for (ushort offset = 16; offset > 0; offset >>= 1) {
    v = v + simd_shuffle_xor(v, offset);
  }
  if (lane == 0 && n < N) {
    y[m * N + n] = T(v);
  }
}
