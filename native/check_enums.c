/* Prints every oneDNN ABI value that src/main/java/io/sam4j/dnnl/Dnnl.java hard-codes, as "NAME VALUE"
 * lines named after the Java constants, so the two can be compared after a version bump. Needs only the
 * headers shipped in the dnnl jar; native/README.md has the one-line build command. */
#include <stddef.h>
#include <stdio.h>
#include <oneapi/dnnl/dnnl.h>

#define P(java, c) printf("%-28s %ld\n", java, (long) (c))

int main(void) {
    printf("# oneDNN headers %d.%d.%d\n", DNNL_VERSION_MAJOR, DNNL_VERSION_MINOR, DNNL_VERSION_PATCH);
    P("SUCCESS", dnnl_success);
    P("INVALID_DATA_TYPE", dnnl_invalid_data_type); /* last status with a name in Dnnl.STATUS_NAMES */
    P("F32", dnnl_f32);
    P("BF16", dnnl_bf16);
    P("ISA_AVX512_CORE_BF16", dnnl_cpu_isa_avx512_core_bf16);
    P("ISA_AVX2_VNNI_2", dnnl_cpu_isa_avx2_vnni_2);
    P("ENGINE_CPU", dnnl_cpu);
    P("STREAM_DEFAULT_FLAGS", dnnl_stream_default_flags);
    P("TAG_ANY", dnnl_format_tag_any);
    P("TAG_X", dnnl_x);
    P("TAG_NCHW", dnnl_nchw);
    P("TAG_OIHW", dnnl_oihw);
    P("TAG_NCHW8C", dnnl_nChw8c);
    P("TAG_NCHW16C", dnnl_nChw16c);
    P("FORWARD_TRAINING", dnnl_forward_training);
    P("BACKWARD_DATA", dnnl_backward_data);
    P("BACKWARD_WEIGHTS", dnnl_backward_weights);
    P("CONVOLUTION_DIRECT", dnnl_convolution_direct);
    P("QUERY_IMPL_INFO_STR", dnnl_query_impl_info_str);
    P("QUERY_SRC_MD", dnnl_query_src_md);
    P("QUERY_DIFF_SRC_MD", dnnl_query_diff_src_md);
    P("QUERY_WEIGHTS_MD", dnnl_query_weights_md);
    P("QUERY_DIFF_WEIGHTS_MD", dnnl_query_diff_weights_md);
    P("QUERY_DST_MD", dnnl_query_dst_md);
    P("QUERY_DIFF_DST_MD", dnnl_query_diff_dst_md);
    P("QUERY_SCRATCHPAD_MD", dnnl_query_scratchpad_md);
    P("ARG_SRC", DNNL_ARG_SRC);
    P("ARG_FROM", DNNL_ARG_FROM);
    P("ARG_DST", DNNL_ARG_DST);
    P("ARG_TO", DNNL_ARG_TO);
    P("ARG_WEIGHTS", DNNL_ARG_WEIGHTS);
    P("ARG_BIAS", DNNL_ARG_BIAS);
    P("ARG_SCRATCHPAD", DNNL_ARG_SCRATCHPAD);
    P("ARG_DIFF_SRC", DNNL_ARG_DIFF_SRC);
    P("ARG_DIFF_DST", DNNL_ARG_DIFF_DST);
    P("ARG_DIFF_WEIGHTS", DNNL_ARG_DIFF_WEIGHTS);
    P("ARG_DIFF_BIAS", DNNL_ARG_DIFF_BIAS);
    P("SCRATCHPAD_MODE_USER", dnnl_scratchpad_mode_user);
    P("RUNTIME_OMP", DNNL_RUNTIME_OMP);
    P("MAX_NDIMS", DNNL_MAX_NDIMS);
    P("sizeof(dnnl_dim_t)", sizeof(dnnl_dim_t));
    P("sizeof(dnnl_exec_arg_t)", sizeof(dnnl_exec_arg_t));
    P("offsetof(exec_arg.memory)", offsetof(dnnl_exec_arg_t, memory));
    P("sizeof(dnnl_version_t)", sizeof(dnnl_version_t));
    P("offsetof(version.hash)", offsetof(dnnl_version_t, hash));
    P("offsetof(version.cpu_runtime)", offsetof(dnnl_version_t, cpu_runtime));
#ifdef DNNL_ENABLE_CONCURRENT_EXEC
    puts("# DNNL_ENABLE_CONCURRENT_EXEC defined");
#else
    puts("# DNNL_ENABLE_CONCURRENT_EXEC not defined: library scratchpad ties a primitive to its creating thread");
#endif
    return 0;
}
