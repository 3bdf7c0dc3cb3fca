#include "testing.h"

#include <ATen/Parallel.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <stdexcept>

#include <unistd.h>

namespace cuda_on_cpu {
namespace {

int failure_count = 0;

double relative_error(const at::Tensor& actual, const at::Tensor& exact) {
  const auto exact64 = exact.to(at::kDouble);
  const double norm = exact64.norm().item<double>();
  const double diff = (actual.to(at::kDouble) - exact64).norm().item<double>();
  return norm == 0 ? diff : diff / norm;
}

}  // namespace

std::map<std::string, Case>& cases() {
  static std::map<std::string, Case> all;
  return all;
}

void fail(const std::string& message) {
  ++failure_count;
  std::fprintf(stderr, "FAIL %s\n", message.c_str());
}

int failures() { return failure_count; }

Settings& settings() {
  static Settings current;
  return current;
}

std::string Shape::name() const {
  std::ostringstream text;
  text << "B" << clips << " N" << frames << " D" << channels << " P" << height << "x" << width;
  return text.str();
}

std::vector<Shape> sweep(int64_t min_channels) {
  const Shape base{1, 3, 9, 11, 3};
  // P = 391 > 256: a row tile of one row of 256 threads, some reading two
  // positions.
  const Shape long_rows{1, 2, 3, 23, 17};
  if (settings().quick) {
    return {base, {1, 2, 2, 1, 1}, {3, 8, 7, 11, 7}, {3, 2, 33, 8, 4}, long_rows};
  }
  std::vector<Shape> shapes{base};
  for (int64_t d : {1, 2, 7, 33, 70, 256}) {
    if (d >= min_channels) shapes.push_back({base.clips, base.frames, d, base.height, base.width});
  }
  for (auto [h, w] : {std::pair{1, 1}, {31, 1}, {8, 4}, {11, 7}, {16, 8}}) {
    shapes.push_back({base.clips, base.frames, base.channels, h, w});
  }
  for (int64_t n : {2, 8}) shapes.push_back({base.clips, n, base.channels, base.height, base.width});
  shapes.push_back({3, base.frames, base.channels, base.height, base.width});
  // Corners: everything small; many frames of few channels; many channels
  // of long maps; rows longer than a block.
  shapes.push_back({1, 2, std::max<int64_t>(min_channels, 1), 1, 1});
  shapes.push_back({3, 8, 2, 11, 7});
  shapes.push_back({3, 2, 70, 16, 8});
  shapes.push_back(long_rows);
  return shapes;
}

std::vector<Shape> order_sweep() { return {{1, 3, 9, 11, 3}, {3, 8, 7, 11, 7}, {1, 2, 33, 8, 4}}; }

bool in_order_sweep(const Shape& shape) {
  for (const auto& other : order_sweep()) {
    if (other.name() == shape.name()) return true;
  }
  return false;
}

std::string Run::name() const {
  std::ostringstream text;
  text << simt::name_of(options.order);
  if (options.order == simt::Order::shuffled) text << " (seed " << options.seed << ")";
  text << ", " << options.workers << " OS thread(s)";
  if (max_blocks != cosam::cuda::kMaxBlocks) text << ", grid capped at " << max_blocks << " block(s)";
  return text.str();
}

Run forward_run() {
  Run run;
  run.options.workers = settings().workers;
  return run;
}

std::vector<Run> permuted_runs() {
  std::vector<Run> runs;
  for (auto [order, seed] : {std::pair{simt::Order::reverse, 0}, {simt::Order::shuffled, 1},
                             {simt::Order::shuffled, 2}}) {
    Run run = forward_run();
    run.options.order = order;
    run.options.seed = seed;
    runs.push_back(run);
  }
  return runs;
}

std::vector<Run> wrapping_runs() {
  std::vector<Run> runs;
  for (int64_t cap : {1, 3, 5}) {
    Run run = forward_run();
    run.max_blocks = cap;
    runs.push_back(run);
  }
  return runs;
}

at::Tensor normal(at::IntArrayRef sizes, at::ScalarType dtype) {
  return at::randn(sizes, at::kDouble).to(dtype);
}

at::Tensor mask(at::IntArrayRef sizes, at::ScalarType dtype) {
  return at::rand(sizes, at::kDouble).to(dtype);
}

at::ScalarType reference_dtype(at::ScalarType dtype) {
  return dtype == at::kFloat || dtype == at::kDouble ? dtype : at::kDouble;
}

at::Tensor nan_filled(at::IntArrayRef sizes, at::ScalarType dtype) {
  return at::full(sizes, std::numeric_limits<double>::quiet_NaN(), at::dtype(dtype));
}

void expect_matches(const std::string& what, const at::Tensor& actual, const at::Tensor& expected) {
  if (actual.sizes() != expected.sizes()) {
    std::ostringstream message;
    message << what << ": shape " << actual.sizes() << ", expected " << expected.sizes();
    return fail(message.str());
  }
  if (actual.numel() == 0) return;
  const auto dtype = actual.scalar_type();
  if (!at::isfinite(actual).all().item<bool>()) {
    const auto bad = at::nonzero(~at::isfinite(actual.reshape(-1)));
    std::ostringstream message;
    message << what << " (" << dtype << "): " << bad.size(0) << " of " << actual.numel()
            << " elements not finite (unwritten?), the first at flat index " << bad[0].item<int64_t>();
    return fail(message.str());
  }
  if (dtype == at::kFloat || dtype == at::kDouble) {
    // Float32 kernels accumulate in float, the CPU backend in double; at a
    // position constant over the channels the normalisation's backward
    // multiplies that rounding by 1/eps.
    const double tolerance = dtype == at::kFloat ? 1e-4 : 1e-10;
    const auto expected_here = expected.to(dtype);
    if (!at::allclose(actual, expected_here, tolerance, tolerance)) {
      // Reports the element furthest outside the bound.
      const auto excess = ((actual - expected_here).abs() - tolerance * expected_here.abs()).reshape(-1);
      const int64_t worst = excess.argmax().item<int64_t>();
      std::ostringstream message;
      message << what << " (" << dtype << "): at flat index " << worst << " "
              << actual.reshape(-1)[worst].item<double>() << ", the CPU backend "
              << expected_here.reshape(-1)[worst].item<double>();
      fail(message.str());
    }
    return;
  }
  // Half types: against the float64 result.
  const double error = relative_error(actual, expected);
  const double allowed = 2 * relative_error(expected.to(dtype), expected) + 1e-6;
  if (!(error <= allowed)) {
    std::ostringstream message;
    message << what << " (" << dtype << "): relative error " << error << " > " << allowed;
    fail(message.str());
  }
}

void expect_same_bits(const std::string& what, const at::Tensor& actual, const at::Tensor& expected) {
  if (!at::equal(actual, expected)) {
    fail(what + " (" + std::string(c10::toString(actual.scalar_type())) +
         "): not bitwise equal to the result of the forward order on the full grid");
  }
}

void expect_race_report(const std::string& name, const std::string& needle) {
  char self[4096];
  const ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
  if (length <= 0) return fail("cannot find this program's path");
  const std::string command = std::string(self, length) + " --workers=" + std::to_string(settings().workers) +
                              " " + name + " 2>&1";
  FILE* child = popen(command.c_str(), "r");
  if (child == nullptr) return fail("cannot run " + command);
  std::string output;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, child)) output.append(buffer, n);
  const int status = pclose(child);
  if (status == 0 || output.find("ThreadSanitizer: data race") == std::string::npos ||
      output.find(needle) == std::string::npos) {
    fail(name + ": no ThreadSanitizer report of a race in " + needle + " (exit status " +
         std::to_string(status) + ")");
  }
}

void expect_throws(const std::string& what, const std::function<void()>& body, const std::string& needle) {
  try {
    body();
  } catch (const std::exception& error) {
    if (std::string(error.what()).find(needle) == std::string::npos) {
      fail(what + ": the error does not mention '" + needle + "': " + error.what());
    }
    return;
  }
  fail(what + ": no error");
}

}  // namespace cuda_on_cpu

// cuda_on_cpu_test [--quick] [--workers=N] [case...]: the named cases (all
// by default); exit status 1 if any check failed.
int main(int argc, char** argv) {
  using namespace cuda_on_cpu;
  at::set_num_threads(1);  // the CPU backend too: one thread, no pool to race with
  std::vector<std::string> chosen;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      settings().quick = true;
    } else if (std::strncmp(argv[i], "--workers=", 10) == 0) {
      settings().workers = std::atoi(argv[i] + 10);
    } else if (cases().count(argv[i]) != 0) {
      chosen.emplace_back(argv[i]);
    } else {
      std::fprintf(stderr, "unknown case %s; cases:", argv[i]);
      for (const auto& [name, body] : cases()) std::fprintf(stderr, " %s", name.c_str());
      std::fprintf(stderr, "\n");
      return 2;
    }
  }
  if (chosen.empty()) {
    for (const auto& [name, body] : cases()) {
      if (name[0] != '_') chosen.push_back(name);
    }
  }
  for (const auto& name : chosen) {
    const int before = failures();
    try {
      cases()[name]();
    } catch (const std::exception& error) {
      fail(name + ": " + error.what());
    }
    std::printf("%s %s\n", failures() == before ? "ok  " : "FAIL", name.c_str());
  }
  std::printf("%d failure(s)\n", failures());
  return failures() == 0 ? 0 : 1;
}
