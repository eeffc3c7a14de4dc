// oneDNN 2.6 (Debian libdnnl-dev), C API. Only CoDEOneDNN/OneDNN.swift uses it.
#include <oneapi/dnnl/dnnl.h>

// The execution-argument indices (nested macros Swift does not import).
static const int codekit_dnnl_arg_src = DNNL_ARG_SRC;
static const int codekit_dnnl_arg_weights = DNNL_ARG_WEIGHTS;
static const int codekit_dnnl_arg_dst = DNNL_ARG_DST;
static const int codekit_dnnl_arg_from = DNNL_ARG_FROM;
static const int codekit_dnnl_arg_to = DNNL_ARG_TO;
static void *const codekit_dnnl_memory_allocate = DNNL_MEMORY_ALLOCATE;
// The execution argument of post-op `index`'s second input (a binary post-op's src1).
static inline int codekit_dnnl_arg_post_op_src1(int index) { return DNNL_ARG_ATTR_MULTIPLE_POST_OP(index) | DNNL_ARG_SRC_1; }
