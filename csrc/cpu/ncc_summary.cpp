// cosam::ncc_summary on CPU: the shared GEMM algebra over the CPU kernels.
#include <torch/library.h>

#include "../ncc_algebra.h"
#include "cpu_kernels.h"

namespace cosam::cpu {

TORCH_LIBRARY_IMPL(cosam, CPU, m) {
  m.impl("ncc_summary", &ncc_summary_forward<c10::kCPU>);
  m.impl("ncc_summary_backward", &ncc_summary_backward<c10::kCPU>);
}

}  // namespace cosam::cpu
