# Sourced by scripts/run and scripts/test: run-time settings that only help speed.
# OpenBLAS 0.3.21 picks Haswell kernels on AVX-512 CPUs; SKYLAKEX nearly doubles sgemm there,
# but on a CPU without AVX-512 it dies with SIGILL, so set it only when the CPU reports it.
# The binaries choose SKYLAKEX themselves when this is unset (src/mlx/blas_kernel.rs, by
# re-executing once at start-up); setting it here only saves that re-exec.
if [ -z "${OPENBLAS_CORETYPE:-}" ] && [ -r /proc/cpuinfo ] && grep -q -m1 avx512f /proc/cpuinfo; then
  export OPENBLAS_CORETYPE=SKYLAKEX
fi
