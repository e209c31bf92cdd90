// A CPU emulation of the subset of Metal that kernels/*.metal use, so the same kernel text
// compiles as C++ and runs every thread of a launch here (Linux; tests and `bench nf4`).
//
// Threads of a threadgroup are cooperative fibers on one OS thread (started with makecontext,
// then switched with _setjmp/_longjmp, which unlike swapcontext make no system call): a fiber runs
// until it reaches a barrier, then the next one runs; once every fiber of the group waits at
// the barrier they all resume. `threadgroup` variables become function-local
// `static thread_local`, shared by the fibers of the group running on that OS thread.
// `simd_shuffle_xor` publishes the lane's value and waits at a group-wide barrier, so kernels
// must keep barriers and shuffles in uniform control flow (as Metal requires anyway); a group
// whose threads disagree on the number of barriers is reported as an error. Threadgroups are
// spread over a few OS threads; each writes its own outputs.
#pragma once

// __longjmp_chk (fortified longjmp) rejects jumps between stacks, which fibers are made of.
#undef _FORTIFY_SOURCE

#include <setjmp.h>
#include <sys/types.h>  // uint, ushort (Metal's names for 32- and 16-bit unsigned)
#include <ucontext.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace metal_emu {

struct uint3 {
  uint x, y, z;
};

enum class mem_flags { mem_none, mem_device, mem_threadgroup };

// Metal's bfloat16_t as MLX names it: float32 -> bf16 rounds to nearest even.
struct bfloat16_t {
  uint16_t bits;
  bfloat16_t() = default;
  explicit bfloat16_t(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
      bits = static_cast<uint16_t>((u >> 16) | 0x40u);  // quiet NaN
    } else {
      u += 0x7fffu + ((u >> 16) & 1u);
      bits = static_cast<uint16_t>(u >> 16);
    }
  }
  explicit operator float() const {
    uint32_t u = static_cast<uint32_t>(bits) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
};

using half = _Float16;

template <class T>
inline T min(T a, T b) {
  return b < a ? b : a;
}
template <class T>
inline T max(T a, T b) {
  return a < b ? b : a;
}

constexpr uint kSimdWidth = 32;
constexpr size_t kStackBytes = 64 * 1024;

struct Fiber {
  ucontext_t ctx;  // only to start the fiber on its own stack
  jmp_buf jb;      // where it waits
  bool started;
  uint3 tpig, tptg, tgpig;
  uint index;  // thread_index_in_threadgroup
  unsigned long barriers;
  bool done;
};

// One OS thread's scheduler: runs the fibers of one threadgroup at a time.
struct Worker {
  ucontext_t sched;
  jmp_buf sched_jb;
  std::vector<Fiber> fibers;
  std::unique_ptr<char[]> stacks;  // not zeroed: fibers write before they read
  size_t stack_count = 0;
  std::vector<float> slots;  // simd_shuffle_xor exchange, one per thread
  Fiber* current = nullptr;
  void (*body)(void*) = nullptr;
  void* arg = nullptr;
  std::string error;  // set by a fiber whose body threw; raised by the scheduler
};

inline thread_local Worker* tl_worker = nullptr;

inline Fiber& cur() { return *tl_worker->current; }

inline void yield_to_scheduler() {
  Worker& w = *tl_worker;
  Fiber& f = *w.current;
  ++f.barriers;
  if (_setjmp(f.jb) == 0) _longjmp(w.sched_jb, 1);
}

inline void threadgroup_barrier(mem_flags) { yield_to_scheduler(); }

inline float simd_shuffle_xor(float v, ushort mask) {
  Worker& w = *tl_worker;
  const uint me = w.current->index;
  w.slots[me] = v;
  yield_to_scheduler();
  const uint src = (me / kSimdWidth) * kSimdWidth + ((me % kSimdWidth) ^ (mask % kSimdWidth));
  if (src >= w.fibers.size()) throw std::runtime_error("simd_shuffle_xor: lane outside the threadgroup");
  const float r = w.slots[src];
  yield_to_scheduler();
  return r;
}

inline void fiber_entry() {
  Worker& w = *tl_worker;
  // An exception cannot unwind past a fiber's first frame: keep it for the scheduler.
  try {
    w.body(w.arg);
  } catch (const std::exception& e) {
    if (w.error.empty()) w.error = e.what();
  }
  w.current->done = true;
  // Back to the scheduler's latest resume point (uc_link would return to a stale one).
  _longjmp(w.sched_jb, 1);
}

// Runs fiber `f` until it waits at a barrier or finishes. Kept out of line so that the frame
// _setjmp saves holds no variable that changes before the fiber jumps back.
[[gnu::noinline]] inline void resume(Worker& w, Fiber& f) {
  w.current = &f;
  if (_setjmp(w.sched_jb) == 0) {
    if (!f.started) {
      f.started = true;
      swapcontext(&w.sched, &f.ctx);
    } else {
      _longjmp(f.jb, 1);
    }
  }
}

// Runs threadgroup `g` (its threads all inside `grid`) of a launch to completion.
inline void run_group(Worker& w, uint3 grid, uint3 tg, uint3 g) {
  w.fibers.clear();
  for (uint z = 0; z < tg.z; ++z)
    for (uint y = 0; y < tg.y; ++y)
      for (uint x = 0; x < tg.x; ++x) {
        uint3 p{g.x * tg.x + x, g.y * tg.y + y, g.z * tg.z + z};
        // Like dispatchThreads: threads outside the grid are not launched.
        if (p.x >= grid.x || p.y >= grid.y || p.z >= grid.z) continue;
        Fiber f{};
        f.tpig = p;
        f.tptg = uint3{x, y, z};
        f.tgpig = g;
        f.index = x + y * tg.x + z * tg.x * tg.y;
        w.fibers.push_back(f);
      }
  const size_t n = w.fibers.size();
  if (w.stack_count < n) {
    w.stacks.reset(new char[n * kStackBytes]);
    w.stack_count = n;
  }
  if (w.slots.size() < tg.x * tg.y * tg.z) w.slots.resize(tg.x * tg.y * tg.z);
  for (size_t i = 0; i < n; ++i) {
    Fiber& f = w.fibers[i];
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = w.stacks.get() + i * kStackBytes;
    f.ctx.uc_stack.ss_size = kStackBytes;
    f.ctx.uc_link = &w.sched;
    makecontext(&f.ctx, fiber_entry, 0);
  }
  for (;;) {
    size_t finished = 0;
    for (Fiber& f : w.fibers) {
      if (f.done) {
        ++finished;
        continue;
      }
      resume(w, f);
    }
    if (!w.error.empty()) throw std::runtime_error(w.error);
    if (finished == n) return;
    unsigned long first = ~0ul;
    for (const Fiber& f : w.fibers) {
      if (first == ~0ul) first = f.barriers;
      if (f.barriers != first)
        throw std::runtime_error(
            "threads of a threadgroup reached different numbers of barriers (non-uniform "
            "control flow around threadgroup_barrier or simd_shuffle_xor)");
    }
    if (std::any_of(w.fibers.begin(), w.fibers.end(), [](const Fiber& f) { return f.done; }) &&
        std::any_of(w.fibers.begin(), w.fibers.end(), [](const Fiber& f) { return !f.done; }))
      throw std::runtime_error("some threads finished while others wait at a barrier");
  }
}

// Launches `body(arg)` over `grid` threads in threadgroups of `tg` (MLX's metal_kernel
// convention: the grid counts threads). Throws std::runtime_error on a malformed launch.
inline void launch(uint3 grid, uint3 tg, void (*body)(void*), void* arg) {
  if (tg.x == 0 || tg.y == 0 || tg.z == 0 || tg.x * tg.y * tg.z > 1024)
    throw std::runtime_error("threadgroup size must be 1..1024 threads");
  const uint3 groups{(grid.x + tg.x - 1) / tg.x, (grid.y + tg.y - 1) / tg.y,
                     (grid.z + tg.z - 1) / tg.z};
  const size_t total = size_t(groups.x) * groups.y * groups.z;
  const size_t nworkers = std::max<size_t>(
      1, std::min<size_t>(total, std::max(1u, std::thread::hardware_concurrency())));
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::string error;
  std::vector<std::thread> threads;
  auto work = [&]() {
    Worker w;
    w.body = body;
    w.arg = arg;
    tl_worker = &w;
    try {
      for (size_t i; !failed && (i = next.fetch_add(1)) < total;) {
        uint3 g{uint(i % groups.x), uint((i / groups.x) % groups.y),
                uint(i / (size_t(groups.x) * groups.y))};
        run_group(w, grid, tg, g);
      }
    } catch (const std::exception& e) {
      if (!failed.exchange(true)) error = e.what();
    }
    tl_worker = nullptr;
  };
  for (size_t t = 1; t < nworkers; ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  if (failed) throw std::runtime_error(error);
}

}  // namespace metal_emu

// The names a kernel body sees, as Metal's [[attribute]] parameters would provide them.
#define METAL_EMU_ATTRIBUTES                                                               \
  const ::metal_emu::uint3 thread_position_in_grid = ::metal_emu::cur().tpig;              \
  const ::metal_emu::uint3 thread_position_in_threadgroup = ::metal_emu::cur().tptg;       \
  const ::metal_emu::uint3 threadgroup_position_in_grid = ::metal_emu::cur().tgpig;        \
  const uint thread_index_in_threadgroup = ::metal_emu::cur().index;                       \
  const uint thread_index_in_simdgroup = ::metal_emu::cur().index % ::metal_emu::kSimdWidth; \
  const uint simdgroup_index_in_threadgroup =                                              \
      ::metal_emu::cur().index / ::metal_emu::kSimdWidth;                                  \
  (void)thread_position_in_grid;                                                           \
  (void)thread_position_in_threadgroup;                                                    \
  (void)threadgroup_position_in_grid;                                                      \
  (void)thread_index_in_threadgroup;                                                       \
  (void)thread_index_in_simdgroup;                                                         \
  (void)simdgroup_index_in_threadgroup;

// Metal address-space qualifiers.
#define device
#define constant static const
#define threadgroup static thread_local
