#pragma once
// What the CPU can do, checked once at run time, for code with a vector path and a plain one.

namespace ferry::base {

#if defined(__x86_64__)
inline bool cpu_has_avx2() {
  static const bool yes = __builtin_cpu_supports("avx2");
  return yes;
}
inline bool cpu_has_avx512f() {
  static const bool yes = __builtin_cpu_supports("avx512f");
  return yes;
}
inline bool cpu_has_sse42() {
  static const bool yes = __builtin_cpu_supports("sse4.2");
  return yes;
}
#endif

}  // namespace ferry::base
