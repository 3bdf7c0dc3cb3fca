// cosam::ncc_cost_volume on CPU: the shared GEMM algebra over the CPU kernels.
#include <torch/library.h>

#include "../ncc_algebra.h"
#include "cpu_kernels.h"

namespace cosam::cpu {

TORCH_LIBRARY_IMPL(cosam, CPU, m) {
  m.impl("ncc_cost_volume", &ncc_cost_volume_forward<c10::kCPU>);
  m.impl("ncc_cost_volume_backward", &ncc_cost_volume_backward<c10::kCPU>);
}

}  // namespace cosam::cpu
