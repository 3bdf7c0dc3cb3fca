// The Python extension module cosam_ext._C. `import cosam_ext._C` loads this
// shared library, which runs the static TORCH_LIBRARY registrations of the
// other sources; the module itself is empty. The standalone CMake build of
// the op library leaves this file out and has no Python dependency.
#include <Python.h>

extern "C" {
PyObject* PyInit__C(void) {
  static struct PyModuleDef module_def = {
      PyModuleDef_HEAD_INIT, "_C", nullptr, -1, nullptr};
  return PyModule_Create(&module_def);
}
}
