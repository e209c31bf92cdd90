// Shared by every NF4 kernel (passed to MLX's metal_kernel as the `header`).
//
// bitsandbytes NF4 layout: the [N, K] weight is flattened row-major; byte e/2 holds element
// e in its high nibble when e is even, in its low nibble when odd; element e is
// NF4_CODE[code] * scale[e / BS] in float32, then rounded to the activation type T (the
// reference dequantises, casts, then multiplies: the kernels round the same way).
//
// This text is also compiled as C++ by csrc/metal_emu (see metal_emu.h), so it uses only the
// subset of Metal that the emulator provides.

// Launch shape of nf4_matvec: at most NF4_MV_ROWS activation rows, NF4_MV_SIMDS simdgroups of
// 32 threads per threadgroup (src/model/nf4_fused/ launches with the same numbers).
#define NF4_MV_ROWS 8
#define NF4_MV_SIMDS 8

constant float NF4_CODE[16] = {
    -1.0f,
    -0.6961928009986877f,
    -0.5250730514526367f,
    -0.39491748809814453f,
    -0.28444138169288635f,
    -0.18477343022823334f,
    -0.09105003625154495f,
    0.0f,
    0.07958029955625534f,
    0.16093020141124725f,
    0.24611230194568634f,
    0.33791524171829224f,
    0.44070982933044434f,
    0.5626170039176941f,
    0.7229568362236023f,
    1.0f,
};

// The 4-bit code of flat element e.
inline uint nf4_code(const device uint8_t* packed, uint e) {
  uint byte = packed[e >> 1];
  return (e & 1u) == 0u ? (byte >> 4) : (byte & 15u);
}
