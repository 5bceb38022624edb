# Black-box tests of the glint program: ONNX's own backend tests and the
# committed reference models, run through `glint check`.

# Every test of the build fails when its output shows a sanitizer report,
# whatever its PASS_REGULAR_EXPRESSION says (a "N passed, 0 failed" line
# prints before LeakSanitizer reports at exit). Deferred to the end of the
# top-level CMakeLists so that it also covers the tests registered after this
# file; the black-box harnesses print the reports of the programs they start.
set(GLINT_SANITIZER_REPORT "ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|SUMMARY: UndefinedBehaviorSanitizer")
function(glint_fail_on_sanitizer_report)
  get_property(all DIRECTORY ${CMAKE_SOURCE_DIR} PROPERTY TESTS)
  foreach(t ${all})
    get_test_property(${t} FAIL_REGULAR_EXPRESSION old)
    if(old)
      set_tests_properties(${t} PROPERTIES FAIL_REGULAR_EXPRESSION "${old};${GLINT_SANITIZER_REPORT}")
    else()
      set_tests_properties(${t} PROPERTIES FAIL_REGULAR_EXPRESSION "${GLINT_SANITIZER_REPORT}")
    endif()
  endforeach()
endfunction()
cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL glint_fail_on_sanitizer_report)
# Each suite on both backends (auto: oneDNN where it takes a step; ref: the
# reference kernels alone), held to the committed list of the cases glint
# skips (tests/cli/onnx_skips/SUITE.txt): a claimed operator that turns into a
# skip fails, and so does a listed case that starts to pass.
set(ONNX_TESTDATA /usr/share/libonnx-testdata/data)
foreach(suite node pytorch-converted pytorch-operator simple)
  foreach(backend auto ref)
    if(backend STREQUAL "auto")
      set(name onnx/${suite})
    else()
      set(name onnx/${suite}-ref)
    endif()
    add_test(NAME ${name}
             COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/onnx_suite.py $<TARGET_FILE:glint>
                     ${ONNX_TESTDATA}/${suite} ${CMAKE_CURRENT_LIST_DIR}/onnx_skips/${suite}.txt
                     --backend ${backend})
    set_tests_properties(${name} PROPERTIES
      FAIL_REGULAR_EXPRESSION "FAIL "
      PASS_REGULAR_EXPRESSION "[1-9][0-9]* passed, 0 failed")
  endforeach()
endforeach()
# reference models against torch's outputs (relative L2 < 1e-4), both backends
foreach(m yolov8n yolov8n_dyn yolo11n yolov5n ssdlite rtdetr resnet18 mobilenetv3 mobilenetv2 efficientnet_b0
          vit_tiny convnext_atto)
  add_test(NAME models/${m} COMMAND glint check --rel-l2 1e-4 ${CMAKE_SOURCE_DIR}/models/${m})
  set_tests_properties(models/${m} PROPERTIES PASS_REGULAR_EXPRESSION "1 passed, 0 failed")
endforeach()
# the small trained models (tools/train_shapes.py)
foreach(m shapes shapes_dyn red_disc ocr_det ocr_rec)
  add_test(NAME models/${m} COMMAND glint check --rel-l2 1e-4 ${CMAKE_SOURCE_DIR}/models/${m})
  set_tests_properties(models/${m} PROPERTIES PASS_REGULAR_EXPRESSION "1 passed, 0 failed")
endforeach()
foreach(m ssdlite rtdetr resnet18 mobilenetv3 mobilenetv2 efficientnet_b0 vit_tiny convnext_atto shapes shapes_dyn
          red_disc ocr_det ocr_rec)
  add_test(NAME models/${m}-ref COMMAND glint check --backend ref --rel-l2 1e-4 ${CMAKE_SOURCE_DIR}/models/${m})
  set_tests_properties(models/${m}-ref PROPERTIES PASS_REGULAR_EXPRESSION "1 passed, 0 failed")
endforeach()
foreach(m yolov8n yolov8n_dyn yolo11n yolov5n)
  add_test(NAME models/${m}-ref COMMAND glint check --backend ref --rel-l2 1e-4 ${CMAKE_SOURCE_DIR}/models/${m})
  set_tests_properties(models/${m}-ref PROPERTIES PASS_REGULAR_EXPRESSION "1 passed, 0 failed" LABELS slow)
endforeach()
# The reference cases test something only if their outputs depend on their
# input: each case with another input (the next data set's, or its own
# flipped) must move by at least 100x the 1e-4 the models are checked at.
# red_disc's softmax is saturated on its held-out picture (another picture
# moves it by ~1e-4), so it carries a second case on a picture it is unsure
# of (test_data_set_1: see models/red_disc/README.md).
add_test(NAME sensitivity
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/sensitivity.py $<TARGET_FILE:glint> 1e-4 100
                 ${CMAKE_SOURCE_DIR}/models ${CMAKE_SOURCE_DIR}/tests/data/op_cases
                 ${CMAKE_SOURCE_DIR}/tests/data/onnx)
set_tests_properties(sensitivity PROPERTIES
  FAIL_REGULAR_EXPRESSION "FAIL " PASS_REGULAR_EXPRESSION "[1-9][0-9]* passed, 0 failed")
# PyTorch-made cases for the shapes the oneDNN backend takes over (tools/gen_op_cases.py)
add_test(NAME op_cases COMMAND glint check ${CMAKE_SOURCE_DIR}/tests/data/op_cases)
set_tests_properties(op_cases PROPERTIES PASS_REGULAR_EXPRESSION "19 passed, 0 failed")
add_test(NAME op_cases-ref COMMAND glint check --backend ref ${CMAKE_SOURCE_DIR}/tests/data/op_cases)
set_tests_properties(op_cases-ref PROPERTIES PASS_REGULAR_EXPRESSION "19 passed, 0 failed")
# glint run: answers on the reference models, per-image errors, model.yaml
# handling and inference without one, determinism and batching
# the heavy layers of the transformer-era models run optimised kernels
add_test(NAME cli/hot-kernels COMMAND sh ${CMAKE_SOURCE_DIR}/tests/cli/hot_kernels.sh
         $<TARGET_FILE:glint> ${CMAKE_SOURCE_DIR})
set_tests_properties(cli/hot-kernels PROPERTIES PASS_REGULAR_EXPRESSION "6 passed, 0 failed")
# a free-size export gets the fixed export's graph rewrites
add_test(NAME cli/dyn-rewrites COMMAND sh ${CMAKE_SOURCE_DIR}/tests/cli/dyn_rewrites.sh
         $<TARGET_FILE:glint> ${CMAKE_SOURCE_DIR})
set_tests_properties(cli/dyn-rewrites PROPERTIES PASS_REGULAR_EXPRESSION "2 passed, 0 failed")
# detectors that decode in the graph (RT-DETR; torchvision's SSDlite with NMS), against
# PyTorch's answers
add_test(NAME cli/detector-exports
         COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/cli/test_detector_exports.py
                 $<TARGET_FILE:glint> ${CMAKE_SOURCE_DIR})
set_tests_properties(cli/detector-exports PROPERTIES PASS_REGULAR_EXPRESSION
                     "[1-9][0-9]* passed, 0 failed")
# OCR in PaddleOCR's shape (DB text boxes, CTC lines) against PaddleOCR's post-processing
add_test(NAME cli/ocr COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/cli/test_ocr.py
         $<TARGET_FILE:glint> ${CMAKE_SOURCE_DIR})
set_tests_properties(cli/ocr PROPERTIES PASS_REGULAR_EXPRESSION "[1-9][0-9]* passed, 0 failed")
# rect letterboxing of a free-size detector against the square one and the truth
add_test(NAME cli/rect COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/cli/test_rect.py
         $<TARGET_FILE:glint> ${CMAKE_SOURCE_DIR})
set_tests_properties(cli/rect PROPERTIES PASS_REGULAR_EXPRESSION "[1-9][0-9]* passed, 0 failed")
add_test(NAME cli/run COMMAND bash ${CMAKE_SOURCE_DIR}/tests/cli/test_run.sh $<TARGET_FILE:glint>
         ${CMAKE_SOURCE_DIR})
set_tests_properties(cli/run PROPERTIES PASS_REGULAR_EXPRESSION "[1-9][0-9]* passed, 0 failed")
# glint quantize: calibrate on tests/data/calib (darknet photos), judge on the
# held-out tests/data/heldout; resnet18 passes its bar (exit 0) and the
# report says so; the untrained YOLOv8n's boxes sit at the score threshold,
# so its F1 falls below the bar, the candidate with the network's ends in
# float (stem, output convolutions) is tried too, and quantize says so with
# exit 3.
add_test(NAME cli/quantize-resnet18
         COMMAND sh -c "$<TARGET_FILE:glint> quantize --model ${CMAKE_SOURCE_DIR}/models/resnet18 --calib ${CMAKE_SOURCE_DIR}/tests/data/calib --eval ${CMAKE_SOURCE_DIR}/tests/data/heldout --out $TMPDIR/glint-q-r18.onnx && grep -q '\"passes\": true' $TMPDIR/glint-q-r18.onnx.report.json && $<TARGET_FILE:glint> run --model $TMPDIR/glint-q-r18.onnx ${CMAKE_SOURCE_DIR}/tests/data/dog.jpg")
set_tests_properties(cli/quantize-resnet18 PROPERTIES
  ENVIRONMENT "TMPDIR=${CMAKE_BINARY_DIR}" LABELS slow
  PASS_REGULAR_EXPRESSION "top-1 agreement 1.0000.*PASS.*\"classes\"")
add_test(NAME cli/quantize-yolov8n
         COMMAND sh -c "$<TARGET_FILE:glint> quantize --model ${CMAKE_SOURCE_DIR}/models/yolov8n --calib ${CMAKE_SOURCE_DIR}/tests/data/calib --eval ${CMAKE_SOURCE_DIR}/tests/data/heldout --out $TMPDIR/glint-q-y8.onnx; echo exit=$?; grep -c '\"convs_kept_float\": 7' $TMPDIR/glint-q-y8.onnx.report.json")
set_tests_properties(cli/quantize-yolov8n PROPERTIES
  ENVIRONMENT "TMPDIR=${CMAKE_BINARY_DIR}"
  PASS_REGULAR_EXPRESSION "[0-9]+ Conv\\(s\\) quantized.*minmax .*F1 0\\.[0-9]+.*below the bar.*(minmax|percentile)\\+float-ends +F1 0\\.[0-9]+.*exit=3.1"
  LABELS slow)
# refusals: the exact status and message (a crash is not a refusal)
# Both precisions by default: on a CPU with bf16 kernels the bf16 report is
# written; without them quantize says so, writes none and still exits 0 (the
# int8 model passes); asked for bf16 by name there, it fails (exit 1).
add_test(NAME cli/quantize-default-precisions
         COMMAND sh -c "rm -f $TMPDIR/glint-q-rd.*; $<TARGET_FILE:glint> quantize --model ${CMAKE_SOURCE_DIR}/models/red_disc --calib ${CMAKE_SOURCE_DIR}/tests/data/shapes_heldout/calib --eval ${CMAKE_SOURCE_DIR}/tests/data/shapes_heldout/eval --out $TMPDIR/glint-q-rd.int8.onnx; echo exit=$?; if grep -qw avx512_bf16 /proc/cpuinfo; then test -s $TMPDIR/glint-q-rd.bf16.report.json && echo bf16=report; else test ! -e $TMPDIR/glint-q-rd.bf16.report.json && echo bf16=none; $<TARGET_FILE:glint> quantize --precision bf16 --model ${CMAKE_SOURCE_DIR}/models/red_disc --calib ${CMAKE_SOURCE_DIR}/tests/data/shapes_heldout/calib --eval ${CMAKE_SOURCE_DIR}/tests/data/shapes_heldout/eval --out $TMPDIR/glint-q-rd.int8.onnx 2>&1; echo named=$?; fi")
set_tests_properties(cli/quantize-default-precisions PROPERTIES
  ENVIRONMENT "TMPDIR=${CMAKE_BINARY_DIR}"
  PASS_REGULAR_EXPRESSION "exit=0\n(bf16=report|bf16=none\nglint quantize: bf16: [^\n]*AVX512[^\n]*\nnamed=1)")
add_test(NAME cli/quantize-usage
         COMMAND sh -c "$<TARGET_FILE:glint> quantize --model ${CMAKE_SOURCE_DIR}/models/resnet18 2>&1; echo exit=$?")
set_tests_properties(cli/quantize-usage PROPERTIES
  PASS_REGULAR_EXPRESSION "glint quantize: --model, --calib and --eval are required[^\n]*\nexit=2\n")
# glint run --precision int8: the committed QDQ YOLOv8n through the oneDNN int8 path
add_test(NAME cli/run-int8 COMMAND glint run --precision int8 --model ${CMAKE_SOURCE_DIR}/models/yolov8n
         ${CMAKE_SOURCE_DIR}/tests/data/dog.jpg)
set_tests_properties(cli/run-int8 PROPERTIES PASS_REGULAR_EXPRESSION "\"width\": 768.*\"detections\": \\[\\{")
# glint perf --precision int8: the folder's model.int8.onnx, whose profile
# shows convolutions reading and writing u8; int8 of a file is refused
add_test(NAME cli/perf-int8 COMMAND glint perf --precision int8 --model ${CMAKE_SOURCE_DIR}/models/yolov8n
         --seconds 0.2 --threads 1 --profile)
set_tests_properties(cli/perf-int8 PROPERTIES
  PASS_REGULAR_EXPRESSION "GlintQConv +[a-z_0-9:]+ u8[+zp]*>u8")
# glint perf --precision bf16: every convolution of the float model on a
# oneDNN bf16 kernel (AVX512-BF16 here; a reference kernel would say ref:)
# (skipped, exit 77, on a CPU without AVX512-BF16: glint refuses bf16 there)
set(GLINT_NEED_BF16 "grep -qw avx512_bf16 /proc/cpuinfo || { echo 'SKIP: this CPU has no AVX512-BF16 (no avx512_bf16 in /proc/cpuinfo)'; exit 77; }")
add_test(NAME cli/perf-bf16
         COMMAND sh -c "${GLINT_NEED_BF16}; exec $<TARGET_FILE:glint> perf --precision bf16 --model ${CMAKE_SOURCE_DIR}/models/yolov8n --seconds 0.2 --threads 1 --profile")
set_tests_properties(cli/perf-bf16 PROPERTIES SKIP_RETURN_CODE 77
  PASS_REGULAR_EXPRESSION "/b0/conv/Conv +Conv +brgconv:[a-z_0-9]+ f32>bf16>f32"
  FAIL_REGULAR_EXPRESSION "Conv +ref:")
add_test(NAME cli/perf-int8-file
         COMMAND sh -c "$<TARGET_FILE:glint> perf --precision int8 --model ${CMAKE_SOURCE_DIR}/models/yolov8n/model.onnx 2>&1; echo exit=$?")
set_tests_properties(cli/perf-int8-file PROPERTIES
  PASS_REGULAR_EXPRESSION "glint perf: --precision int8 needs a model folder[^\n]*\nexit=2\n")
# The trained models quantized on some of their held-out pictures agree with
# f32 on the others, in int8 and bf16, and still answer what the pictures
# hold (truth.json).
add_test(NAME cli/precision-trained-truth COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/cli/precision_truth.py
         $<TARGET_FILE:glint> ${CMAKE_SOURCE_DIR})
set_tests_properties(cli/precision-trained-truth PROPERTIES PASS_REGULAR_EXPRESSION "[1-9][0-9]* passed, 0 failed"
                     FAIL_REGULAR_EXPRESSION "FAIL " TIMEOUT 600)
# glint tune: the search within its budget, tune.json and report.html, --write, bad options
add_test(NAME cli/tune COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/cli/test_tune.py
         $<TARGET_FILE:glint> ${CMAKE_SOURCE_DIR})
set_tests_properties(cli/tune PROPERTIES PASS_REGULAR_EXPRESSION "[1-9][0-9]* passed, 0 failed"
                     FAIL_REGULAR_EXPRESSION "FAIL " TIMEOUT 600)
