# Black-box tests of glint serve: real servers on 127.0.0.1 driven over HTTP
# (tests/serve/test_serve.py, Debian's python3, standard library only).
add_test(NAME serve/e2e COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/serve/test_serve.py
         $<TARGET_FILE:glint> ${CMAKE_SOURCE_DIR})
set_tests_properties(serve/e2e PROPERTIES PASS_REGULAR_EXPRESSION "[1-9][0-9]* passed, 0 failed"
                     FAIL_REGULAR_EXPRESSION "FAIL " TIMEOUT 900)
# The Groundlight edge API: SDK-shaped requests, escalation to a second glint
# serve, outbox faults (upstream down, kill -9), model swap under load.
add_test(NAME serve/edge COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/serve/test_edge.py
         $<TARGET_FILE:glint> ${CMAKE_SOURCE_DIR})
set_tests_properties(serve/edge PROPERTIES PASS_REGULAR_EXPRESSION "[1-9][0-9]* passed, 0 failed"
                     FAIL_REGULAR_EXPRESSION "FAIL " TIMEOUT 600)
# The unmodified Groundlight SDK against glint, where a checkout of it and a
# Python with pydantic 2 exist (see the file); skipped (77) elsewhere.
add_test(NAME serve/sdk COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/serve/test_sdk.py
         $<TARGET_FILE:glint> ${CMAKE_SOURCE_DIR})
set_tests_properties(serve/sdk PROPERTIES PASS_REGULAR_EXPRESSION "[1-9][0-9]* passed, 0 failed"
                     FAIL_REGULAR_EXPRESSION "FAIL " SKIP_RETURN_CODE 77 TIMEOUT 300)
