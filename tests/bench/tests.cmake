# Black-box tests of `glint bench` (src/bench/): real loopback servers
# (tests/bench/test_server.py: fast, slow, stalling, erroring, dropping and
# closing ones) driven by the glint executable; tests/bench/bb_test.py checks
# summary.json, the CSVs, report.html (rendered in headless Chromium) and
# the exit codes. Each case takes 0.2-5 s; the longer ones are labelled slow.
find_program(GLINT_BENCH_PYTHON NAMES python3 REQUIRED)
set(GLINT_BENCH_CASES
    bounded cli_errors close compare concurrency_steps drop errors payload ramp_fast ramp_spread
    rate_overload rate_poisson report_chromium retries retry_after spike_plain spike_server_cmd
    stall)
foreach(case ${GLINT_BENCH_CASES})
  add_test(NAME bench/${case}
           COMMAND ${GLINT_BENCH_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/bb_test.py
                   $<TARGET_FILE:glint> ${case})
  set_tests_properties(bench/${case} PROPERTIES
    TIMEOUT 120
    SKIP_RETURN_CODE 77
    PASS_REGULAR_EXPRESSION "PASS ${case}|SKIP ${case}"
    FAIL_REGULAR_EXPRESSION "FAIL ${case}")
endforeach()
set_tests_properties(bench/ramp_fast bench/report_chromium bench/rate_overload PROPERTIES
  LABELS slow)
# the cases that assert rates, latencies or durations run alone (RUN_SERIAL):
# on 2 shared cores a neighbouring test skews their clocks
set_tests_properties(bench/ramp_fast bench/ramp_spread bench/rate_overload bench/rate_poisson
  bench/concurrency_steps bench/bounded bench/spike_plain bench/spike_server_cmd bench/retries
  PROPERTIES RUN_SERIAL TRUE)
