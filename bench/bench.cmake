# bench/bench.cmake — benchmark programs. Included from the top CMakeLists with
#   include(bench/bench.cmake OPTIONAL)
# after DNNL_LIB and OpenMP::OpenMP_C are defined. conv_peak is stand-alone:
# it links oneDNN and OpenMP only, never the engine (see bench/README.md).
add_executable(conv_peak ${CMAKE_CURRENT_LIST_DIR}/conv_peak.c)
target_link_libraries(conv_peak PRIVATE ${DNNL_LIB} OpenMP::OpenMP_C)
add_executable(int8_kernels ${CMAKE_CURRENT_LIST_DIR}/int8_kernels.c)
target_link_libraries(int8_kernels PRIVATE ${DNNL_LIB})
target_compile_options(int8_kernels PRIVATE -Wno-error)
