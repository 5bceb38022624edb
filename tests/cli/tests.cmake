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
# reference models against torch's outputs (relative L2 < 1e-4), both backends
foreach(m yolov8n resnet18 mobilenetv3)
  add_test(NAME models/${m} COMMAND glint check --rel-l2 1e-4 ${CMAKE_SOURCE_DIR}/models/${m})
  set_tests_properties(models/${m} PROPERTIES PASS_REGULAR_EXPRESSION "1 passed, 0 failed")
endforeach()
foreach(m resnet18 mobilenetv3)
  add_test(NAME models/${m}-ref COMMAND glint check --backend ref --rel-l2 1e-4 ${CMAKE_SOURCE_DIR}/models/${m})
  set_tests_properties(models/${m}-ref PROPERTIES PASS_REGULAR_EXPRESSION "1 passed, 0 failed")
endforeach()
add_test(NAME models/yolov8n-ref COMMAND glint check --backend ref --rel-l2 1e-4 ${CMAKE_SOURCE_DIR}/models/yolov8n)
set_tests_properties(models/yolov8n-ref PROPERTIES PASS_REGULAR_EXPRESSION "1 passed, 0 failed" LABELS slow)
# PyTorch-made cases for the shapes the oneDNN backend takes over (tools/gen_op_cases.py)
add_test(NAME op_cases COMMAND glint check ${CMAKE_SOURCE_DIR}/tests/data/op_cases)
set_tests_properties(op_cases PROPERTIES PASS_REGULAR_EXPRESSION "14 passed, 0 failed")
add_test(NAME op_cases-ref COMMAND glint check --backend ref ${CMAKE_SOURCE_DIR}/tests/data/op_cases)
set_tests_properties(op_cases-ref PROPERTIES PASS_REGULAR_EXPRESSION "14 passed, 0 failed")
# glint run: answers on the reference models, per-image errors, model.yaml
# handling and inference without one, determinism and batching
add_test(NAME cli/run COMMAND bash ${CMAKE_SOURCE_DIR}/tests/cli/test_run.sh $<TARGET_FILE:glint>
         ${CMAKE_SOURCE_DIR})
set_tests_properties(cli/run PROPERTIES PASS_REGULAR_EXPRESSION "[1-9][0-9]* passed, 0 failed")
