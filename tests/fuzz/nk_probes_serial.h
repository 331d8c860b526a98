/* NumKong ISA targets of the fuzz build (tests/fuzz/CMakeLists.txt uses this
   header instead of the generated third_party/usearch/numkong/nk_probes.h):
   serial kernels only. clang 14 cannot compile some kernels that g++ 12 can
   (AVX512-FP16), and kernel speed does not matter to a fuzzer. */

#define NK_TARGET_HASWELL 0
#define NK_TARGET_SKYLAKE 0
#define NK_TARGET_ICELAKE 0
#define NK_TARGET_GENOA 0
#define NK_TARGET_SAPPHIRE 0
#define NK_TARGET_SAPPHIREAMX 0
#define NK_TARGET_GRANITEAMX 0
#define NK_TARGET_DIAMOND 0
#define NK_TARGET_TURIN 0
#define NK_TARGET_ALDER 0
#define NK_TARGET_SIERRA 0
#define NK_TARGET_NEON 0
#define NK_TARGET_NEONHALF 0
#define NK_TARGET_NEONSDOT 0
#define NK_TARGET_NEONBFDOT 0
#define NK_TARGET_NEONFHM 0
#define NK_TARGET_SVE 0
#define NK_TARGET_SVEHALF 0
#define NK_TARGET_SVEBFDOT 0
#define NK_TARGET_SVESDOT 0
#define NK_TARGET_SVE2 0
#define NK_TARGET_SVE2P1 0
#define NK_TARGET_NEONFP8 0
#define NK_TARGET_SME 0
#define NK_TARGET_SME2 0
#define NK_TARGET_SME2P1 0
#define NK_TARGET_SMEF64 0
#define NK_TARGET_SMEHALF 0
#define NK_TARGET_SMEBF16 0
#define NK_TARGET_SMEBI32 0
#define NK_TARGET_SMELUT2 0
#define NK_TARGET_SMEFA64 0
#define NK_TARGET_RVV 0
#define NK_TARGET_RVVHALF 0
#define NK_TARGET_RVVBF16 0
#define NK_TARGET_RVVBB 0
#define NK_TARGET_LOONGSONASX 0
#define NK_TARGET_POWERVSX 0
#define NK_TARGET_V128RELAXED 0
