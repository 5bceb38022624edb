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
# The unmodified Groundlight SDK against glint. The SDK is not in the
# repository: name a copy with -DGLINT_SDK_DIR=<source tree> or
# -DGLINT_SDK_GIT=<git directory> (tag GLINT_SDK_REF, default v0.30.0), or the
# same variables in the environment of ctest; it also needs a Python with
# pydantic 2 (see the file). Without them it shows as skipped (exit 77), with
# the reason in its output (ctest -V -R serve/sdk).
set(GLINT_SDK_DIR "" CACHE PATH "a source tree of groundlight/python-sdk for the serve/sdk test")
set(GLINT_SDK_GIT "" CACHE PATH "a git directory of groundlight/python-sdk for the serve/sdk test")
set(GLINT_SDK_REF "v0.30.0" CACHE STRING "the SDK tag serve/sdk extracts from GLINT_SDK_GIT")
set(GLINT_SDK_PYTHON "" CACHE FILEPATH "a python3 with pydantic 2 for the serve/sdk test")
set(sdk_env "GLINT_SDK_REF=${GLINT_SDK_REF}")
foreach(v GLINT_SDK_DIR GLINT_SDK_GIT GLINT_SDK_PYTHON)
  if(${v})
    list(APPEND sdk_env "${v}=${${v}}")
  endif()
endforeach()
add_test(NAME serve/sdk COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/serve/test_sdk.py
         $<TARGET_FILE:glint> ${CMAKE_SOURCE_DIR})
set_tests_properties(serve/sdk PROPERTIES PASS_REGULAR_EXPRESSION "[1-9][0-9]* passed, 0 failed"
                     FAIL_REGULAR_EXPRESSION "FAIL " SKIP_RETURN_CODE 77 TIMEOUT 300
                     ENVIRONMENT "${sdk_env}")
# Thread defaults from the CPUs the process may use (src/util/cpus.h): glint
# serve under `taskset -c 0`, without it, with GLINT_CPUS and with explicit
# flags; /health "cpus", instances x threads, workers, the log line, OpenMP.
add_test(NAME serve/cpus COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/serve/test_cpus.py
         $<TARGET_FILE:glint> ${CMAKE_SOURCE_DIR})
set_tests_properties(serve/cpus PROPERTIES PASS_REGULAR_EXPRESSION "[1-9][0-9]* passed, 0 failed"
                     FAIL_REGULAR_EXPRESSION "FAIL " TIMEOUT 300)
# Model updates: an edge pulls its detector's model from a second glint serve
# (the hub), swaps versions under load, and keeps serving through faults
# (a fault server relays the hub's real package: truncated, bad checksum, not
# a package, 500, a slow body killed with -9 and resumed with Range).
add_test(NAME serve/model_pull COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/serve/test_model_pull.py
         $<TARGET_FILE:glint> ${CMAKE_SOURCE_DIR})
set_tests_properties(serve/model_pull PROPERTIES PASS_REGULAR_EXPRESSION "[1-9][0-9]* passed, 0 failed"
                     FAIL_REGULAR_EXPRESSION "FAIL " TIMEOUT 300)
# DeepStack's object detection API as its published docs show clients using it
# (the NVR integrations: Frigate, Home Assistant, Blue Iris) on the trained shapes detector.
add_test(NAME serve/deepstack COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/serve/test_deepstack.py
         $<TARGET_FILE:glint> ${CMAKE_SOURCE_DIR})
set_tests_properties(serve/deepstack PROPERTIES PASS_REGULAR_EXPRESSION "[1-9][0-9]* passed, 0 failed"
                     FAIL_REGULAR_EXPRESSION "FAIL " TIMEOUT 300)
# API keys: hashed at rest, admin routes always, every route with --require-api-key, reloads
add_test(NAME serve/api-keys COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/serve/test_api_keys.py
         $<TARGET_FILE:glint> ${CMAKE_SOURCE_DIR})
set_tests_properties(serve/api-keys PROPERTIES PASS_REGULAR_EXPRESSION "[1-9][0-9]* passed, 0 failed"
                     FAIL_REGULAR_EXPRESSION "FAIL " TIMEOUT 300)
# The status page in headless Chromium under load: its DOM against /metrics, a screenshot
add_test(NAME serve/status-page COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/serve/test_status_page.py
         $<TARGET_FILE:glint> ${CMAKE_SOURCE_DIR})
set_tests_properties(serve/status-page PROPERTIES PASS_REGULAR_EXPRESSION "[1-9][0-9]* passed, 0 failed"
                     FAIL_REGULAR_EXPRESSION "FAIL " TIMEOUT 300)
# KServe v2 over gRPC: a real gRPC client (python3-grpcio) against every RPC, compared with HTTP
add_test(NAME serve/grpc COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/serve/test_grpc.py
         $<TARGET_FILE:glint> ${CMAKE_SOURCE_DIR})
set_tests_properties(serve/grpc PROPERTIES PASS_REGULAR_EXPRESSION "[1-9][0-9]* passed, 0 failed"
                     FAIL_REGULAR_EXPRESSION "FAIL " TIMEOUT 300)
# Per-client rate limits: 429 with Retry-After and RateLimit headers, clients apart, probes exempt
add_test(NAME serve/rate-limit COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/serve/test_rate_limit.py
         $<TARGET_FILE:glint> ${CMAKE_SOURCE_DIR})
set_tests_properties(serve/rate-limit PROPERTIES PASS_REGULAR_EXPRESSION "[1-9][0-9]* passed, 0 failed"
                     FAIL_REGULAR_EXPRESSION "FAIL " TIMEOUT 300)
# A fleet sharing one Redis (--redis): three replicas behind HAProxy
# (deploy/haproxy/glint.cfg); the shared cache level, a rate limit that holds
# across replicas, Redis killed/restarted, stalled (SIGSTOP), absent at start
add_test(NAME serve/fleet COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/serve/test_fleet.py
         $<TARGET_FILE:glint> ${CMAKE_SOURCE_DIR})
set_tests_properties(serve/fleet PROPERTIES PASS_REGULAR_EXPRESSION "[1-9][0-9]* passed, 0 failed"
                     FAIL_REGULAR_EXPRESSION "FAIL " TIMEOUT 300)
# Splits (--splits, /v1/splits): versions by weight, sticky clients, a slow
# canary rolled back, promotion through the API, a file change swapping versions
add_test(NAME serve/splits COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/serve/test_splits.py
         $<TARGET_FILE:glint> ${CMAKE_SOURCE_DIR})
set_tests_properties(serve/splits PROPERTIES PASS_REGULAR_EXPRESSION "[1-9][0-9]* passed, 0 failed"
                     FAIL_REGULAR_EXPRESSION "FAIL " TIMEOUT 300)
# Pipelines (model.yaml `pipeline:`): shapes -> crops -> red_disc against its
# parts (crops cut with PIL), merged models, batching, an edge detector on a
# pipeline, lifecycle with the models it runs, bad files
add_test(NAME serve/pipeline COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/serve/test_pipeline.py
         $<TARGET_FILE:glint> ${CMAKE_SOURCE_DIR})
set_tests_properties(serve/pipeline PROPERTIES PASS_REGULAR_EXPRESSION "[1-9][0-9]* passed, 0 failed"
                     FAIL_REGULAR_EXPRESSION "FAIL " TIMEOUT 300)
# Camera streams (docs/streams.md): clips made by ffmpeg, GStreamer's RTSP
# server over TCP and UDP, an HTTP MJPEG camera, mosquitto and a paho-mqtt
# subscriber, all on loopback (the packages: scripts/install-deps.sh).
if(GLINT_STREAMS)
  # the status page's Cameras table (a glint with streams)
  add_test(NAME serve/status-page-streams COMMAND /usr/bin/python3
           ${CMAKE_SOURCE_DIR}/tests/serve/test_status_page.py $<TARGET_FILE:glint> ${CMAKE_SOURCE_DIR}
           streams)
  set_tests_properties(serve/status-page-streams PROPERTIES
                       PASS_REGULAR_EXPRESSION "[1-9][0-9]* passed, 0 failed"
                       FAIL_REGULAR_EXPRESSION "FAIL " TIMEOUT 300)
  add_test(NAME serve/streams COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/serve/test_streams.py
           $<TARGET_FILE:glint> ${CMAKE_SOURCE_DIR})
  set_tests_properties(serve/streams PROPERTIES PASS_REGULAR_EXPRESSION "[1-9][0-9]* passed, 0 failed"
                       FAIL_REGULAR_EXPRESSION "FAIL " TIMEOUT 300)
endif()
