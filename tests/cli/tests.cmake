# Black-box tests of the glint program: ONNX's own backend tests and the
# committed reference models, run through `glint check`.
set(ONNX_TESTDATA /usr/share/libonnx-testdata/data)
foreach(suite node pytorch-converted pytorch-operator simple)
  add_test(NAME onnx/${suite} COMMAND glint check ${ONNX_TESTDATA}/${suite})
  set_tests_properties(onnx/${suite} PROPERTIES
    FAIL_REGULAR_EXPRESSION "FAIL "
    PASS_REGULAR_EXPRESSION "[1-9][0-9]* passed, 0 failed")
endforeach()
# the same suites on the reference kernels alone
add_test(NAME onnx/node-ref COMMAND glint check --backend ref ${ONNX_TESTDATA}/node)
set_tests_properties(onnx/node-ref PROPERTIES PASS_REGULAR_EXPRESSION "[1-9][0-9]* passed, 0 failed")
