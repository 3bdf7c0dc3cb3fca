// The scheduler of simt.h: fibers (ucontext) for the threads of a block,
// OS threads for blocks running at once. Under AddressSanitizer and
// ThreadSanitizer the switches between fibers are announced to the
// sanitizer; under ThreadSanitizer the fibers synchronise only where CUDA
// threads do: at a block's barriers, and between the blocks that follow one
// another on an OS thread (they share its __shared__ memory).
#include "simt.h"

#include <sys/mman.h>
#include <ucontext.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <mutex>
#include <numeric>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define SIMT_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define SIMT_TSAN 1
// TSan's dynamic annotations (its runtime defines them).
extern "C" void AnnotateIgnoreWritesBegin(const char* file, int line);
extern "C" void AnnotateIgnoreWritesEnd(const char* file, int line);
#endif

namespace simt {
namespace {

thread_local dim3 thread_index_now;
thread_local dim3 block_index_now;
thread_local dim3 block_shape_now;
thread_local dim3 grid_shape_now;

// Sanitizers keep their own frames on a fiber's stack: more than the kernels.
constexpr size_t kStackBytes = 256 * 1024;
constexpr size_t kGuardBytes = 4096;  // unmapped: an overflow faults
constexpr unsigned kMaxThreadsPerBlock = 1024;

enum class State { ready, waiting, done };

struct Fiber {
  ucontext_t context{};
  char* stack = nullptr;  // kGuardBytes + kStackBytes, the guard first
  dim3 index;
  // Written by the fiber, read by the scheduler between switches: atomics
  // (relaxed), so that reading them is no synchronisation for TSan.
  std::atomic<State> state{State::done};
  std::atomic<int> barriers{0};  // passed so far
#if SIMT_TSAN
  void* tsan_fiber = nullptr;
#endif

  Fiber() {
    void* memory = mmap(nullptr, kGuardBytes + kStackBytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) throw std::runtime_error("simt: cannot map a fiber stack");
    stack = static_cast<char*>(memory);
    mprotect(stack, kGuardBytes, PROT_NONE);
#if SIMT_TSAN
    tsan_fiber = __tsan_create_fiber(0);
#endif
  }
  ~Fiber() {
#if SIMT_TSAN
    __tsan_destroy_fiber(tsan_fiber);
#endif
    munmap(stack, kGuardBytes + kStackBytes);
  }
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;
};

// One OS thread running blocks: its fibers and the context they return to.
struct Worker {
  std::vector<std::unique_ptr<Fiber>> fibers;
  ucontext_t scheduler{};
  Fiber* current = nullptr;
  const std::function<void()>* body = nullptr;
#if SIMT_ASAN
  const void* scheduler_stack = nullptr;
  size_t scheduler_stack_size = 0;
#endif
#if SIMT_TSAN
  void* tsan_scheduler = nullptr;
  // Barrier k of a block releases into token k % 2: a fiber that resumes
  // from barrier k acquires what all passed at k, and none of what others
  // already did after k (they release at k + 1, into the other token).
  char barrier_token[2];
  char block_token;  // the block before on this OS thread -> this block
#endif
};

thread_local Worker* this_worker = nullptr;

// The scheduler's bookkeeping (which fiber runs next, its indices) is
// written between the fibers of its OS thread, which read it. TSan cannot
// order those writes after a fiber's reads without ordering the fibers among
// themselves too, which would hide the races the harness is there to find:
// the writes are left out of its records instead. Only the harness's own
// writes are; the kernels' accesses are all checked.
struct SchedulerWrites {
#if SIMT_TSAN
  SchedulerWrites() { AnnotateIgnoreWritesBegin(__FILE__, __LINE__); }
  ~SchedulerWrites() { AnnotateIgnoreWritesEnd(__FILE__, __LINE__); }
#endif
};
#if SIMT_TSAN
// The scheduler releases into it before each switch to a fiber, which
// acquires it on resuming: the fiber sees what the scheduler set for it
// (threadIdx, its place in the block), and never another fiber's work.
thread_local char handoff_token;
#endif

#if SIMT_TSAN
char launch_token;  // every fiber of a launch -> the thread that launched it
#endif

// Switches from the running context to `to`; stack_bottom/size describe
// to's stack for ASan (null for the scheduler: as recorded), `finished`
// says the current fiber never resumes.
void switch_context(ucontext_t* from, ucontext_t* to, const void* stack_bottom,
                    size_t stack_size, bool finished) {
#if SIMT_ASAN
  void* fake_stack = nullptr;
  __sanitizer_start_switch_fiber(finished ? nullptr : &fake_stack, stack_bottom, stack_size);
#else
  (void)stack_bottom, (void)stack_size, (void)finished;
#endif
  swapcontext(from, to);
#if SIMT_ASAN
  __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
#endif
}

void to_scheduler(Worker& worker, bool finished) {
  Fiber& fiber = *worker.current;
#if SIMT_TSAN
  __tsan_switch_to_fiber(worker.tsan_scheduler, __tsan_switch_to_fiber_no_sync);
#endif
#if SIMT_ASAN
  switch_context(&fiber.context, &worker.scheduler, worker.scheduler_stack,
                 worker.scheduler_stack_size, finished);
#else
  switch_context(&fiber.context, &worker.scheduler, nullptr, 0, finished);
#endif
}

void resumed() {
#if SIMT_TSAN
  __tsan_acquire(&handoff_token);
#endif
}

void fiber_main() {
#if SIMT_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &this_worker->scheduler_stack,
                                  &this_worker->scheduler_stack_size);
#endif
  resumed();
  Worker& worker = *this_worker;
#if SIMT_TSAN
  __tsan_acquire(&worker.block_token);
#endif
  (*worker.body)();
  Fiber& fiber = *worker.current;
#if SIMT_TSAN
  __tsan_release(&worker.block_token);
  __tsan_release(&launch_token);
#endif
  fiber.state.store(State::done, std::memory_order_relaxed);
  to_scheduler(worker, /*finished=*/true);
  std::abort();  // a finished fiber is never resumed
}

void resume(Worker& worker, Fiber& fiber) {
  worker.current = &fiber;
  thread_index_now = fiber.index;
#if SIMT_TSAN
  __tsan_release(&handoff_token);
  __tsan_switch_to_fiber(fiber.tsan_fiber, __tsan_switch_to_fiber_no_sync);
#endif
  switch_context(&worker.scheduler, &fiber.context, fiber.stack + kGuardBytes, kStackBytes, false);
}

std::vector<int64_t> ordered(int64_t count, Order order, uint64_t seed) {
  std::vector<int64_t> indices(count);
  std::iota(indices.begin(), indices.end(), 0);
  if (order == Order::reverse) std::reverse(indices.begin(), indices.end());
  if (order == Order::shuffled) {
    std::mt19937_64 random(seed);
    std::shuffle(indices.begin(), indices.end(), random);
  }
  return indices;
}

// Runs block number `block` (x fastest, as CUDA numbers them) of the grid
// grid_shape_now on this OS thread; returns what went wrong, or "".
std::string run_block(Worker& worker, int64_t block, int threads, const Options& options) {
  const dim3& grid = grid_shape_now;
  block_index_now = dim3(static_cast<unsigned>(block % grid.x), static_cast<unsigned>(block / grid.x % grid.y),
                         static_cast<unsigned>(block / (int64_t{grid.x} * grid.y)));
  for (int t = 0; t < threads; ++t) {
    Fiber& fiber = *worker.fibers[t];
    const dim3& shape = block_shape_now;
    fiber.index = dim3(t % shape.x, t / shape.x % shape.y, t / (shape.x * shape.y));
    fiber.state.store(State::ready, std::memory_order_relaxed);
    fiber.barriers.store(0, std::memory_order_relaxed);
    getcontext(&fiber.context);
    fiber.context.uc_stack.ss_sp = fiber.stack + kGuardBytes;
    fiber.context.uc_stack.ss_size = kStackBytes;
    fiber.context.uc_link = nullptr;
    makecontext(&fiber.context, fiber_main, 0);
  }
  std::ostringstream problem;
  for (uint64_t phase = 0;; ++phase) {
    const uint64_t seed = options.seed ^ (static_cast<uint64_t>(block) << 20) ^ phase;
    for (int64_t t : ordered(threads, options.order, seed)) {
      Fiber& fiber = *worker.fibers[t];
      if (fiber.state.load(std::memory_order_relaxed) == State::ready) resume(worker, fiber);
    }
    bool any_waiting = false;
    for (int t = 0; t < threads; ++t) {
      Fiber& fiber = *worker.fibers[t];
      if (fiber.state.load(std::memory_order_relaxed) != State::waiting) continue;
      any_waiting = true;
      fiber.state.store(State::ready, std::memory_order_relaxed);
    }
    if (!any_waiting) break;
  }
  const int first = worker.fibers[0]->barriers.load(std::memory_order_relaxed);
  for (int t = 1; t < threads && problem.tellp() == 0; ++t) {
    const int passed = worker.fibers[t]->barriers.load(std::memory_order_relaxed);
    if (passed != first) {
      problem << "thread 0 passed " << first << " __syncthreads() but thread " << t
              << " passed " << passed;
    }
  }
  if (problem.tellp() == 0) return "";
  std::ostringstream where;
  where << "block " << block << ": " << problem.str();
  return where.str();
}

}  // namespace

const dim3& thread_index() { return thread_index_now; }
const dim3& block_index() { return block_index_now; }
const dim3& block_shape() { return block_shape_now; }
const dim3& grid_shape() { return grid_shape_now; }

const char* name_of(Order order) {
  switch (order) {
    case Order::forward: return "forward";
    case Order::reverse: return "reverse";
    case Order::shuffled: return "shuffled";
  }
  return "?";
}

void launch(const std::string& kernel, dim3 grid, dim3 threads,
            const std::function<void()>& body, const Options& options) {
  const unsigned per_block = threads.x * threads.y * threads.z;
  if (per_block == 0 || per_block > kMaxThreadsPerBlock) {
    throw std::runtime_error(kernel + ": a block of " + std::to_string(per_block) + " threads");
  }
  // CUDA's limits on a grid's extents.
  const int64_t blocks = int64_t{grid.x} * grid.y * grid.z;
  if (blocks == 0 || grid.x > static_cast<unsigned>(std::numeric_limits<int32_t>::max()) || grid.y > 65535 ||
      grid.z > 65535) {
    throw std::runtime_error(kernel + ": a grid of " + std::to_string(grid.x) + "x" + std::to_string(grid.y) +
                             "x" + std::to_string(grid.z) + " blocks");
  }
  const auto order = ordered(blocks, options.order, options.seed);
  std::atomic<int64_t> next{0};
  std::mutex mutex;
  std::string failure;

  auto work = [&] {
    // For the scheduler's context only: the fibers' writes are recorded.
    const SchedulerWrites bookkeeping;
    Worker worker;
    worker.body = &body;
    for (unsigned t = 0; t < per_block; ++t) worker.fibers.push_back(std::make_unique<Fiber>());
#if SIMT_TSAN
    worker.tsan_scheduler = __tsan_get_current_fiber();
#endif
    this_worker = &worker;
    block_shape_now = threads;
    grid_shape_now = grid;
    for (int64_t i; (i = next.fetch_add(1)) < blocks;) {
      const std::string problem = run_block(worker, order[i], per_block, options);
      if (!problem.empty()) {
        std::lock_guard<std::mutex> lock(mutex);
        if (failure.empty()) failure = problem;
      }
    }
    this_worker = nullptr;
  };
  std::vector<std::thread> pool;
  for (int w = 0; w < std::max(1, options.workers); ++w) pool.emplace_back(work);
  for (auto& thread : pool) thread.join();
#if SIMT_TSAN
  __tsan_acquire(&launch_token);
#endif
  if (!failure.empty()) throw std::runtime_error(kernel + ", " + failure);
}

}  // namespace simt

// Outside the namespace: the kernels call it unqualified, as on the GPU.
void __syncthreads() {
  simt::Worker* worker = simt::this_worker;
  if (worker == nullptr) {
    std::fprintf(stderr, "simt: __syncthreads() outside a launch\n");
    std::abort();
  }
  simt::Fiber& fiber = *worker->current;
  const int passed = fiber.barriers.load(std::memory_order_relaxed);
#if SIMT_TSAN
  __tsan_release(&worker->barrier_token[passed % 2]);
#endif
  fiber.barriers.store(passed + 1, std::memory_order_relaxed);
  fiber.state.store(simt::State::waiting, std::memory_order_relaxed);
  simt::to_scheduler(*worker, /*finished=*/false);
  simt::resumed();
#if SIMT_TSAN
  __tsan_acquire(&worker->barrier_token[passed % 2]);
#endif
}
