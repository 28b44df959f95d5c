# Installs minicnn into a scratch prefix, then configures, builds and runs a small
# project that finds it with find_package(minicnn), as a user's project would. With VIZ
# on, the project also requires the viz component and runs a program that plots.
file(REMOVE_RECURSE ${WORK_DIR})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BINARY_DIR} --prefix ${WORK_DIR}/prefix
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "cmake --install failed (${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/build
                -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCMAKE_BUILD_TYPE=Release
                -DWITH_VIZ=${VIZ}
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "configuring the consumer project failed (${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/build RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "building the consumer project failed (${rc})")
endif()
execute_process(COMMAND ${WORK_DIR}/build/consumer RESULT_VARIABLE rc OUTPUT_VARIABLE out)
message(STATUS "consumer printed: ${out}")
if(rc OR NOT out MATCHES "consumer ok")
  message(FATAL_ERROR "the consumer program failed (${rc})")
endif()
if(VIZ)
  execute_process(COMMAND ${WORK_DIR}/build/consumer_viz RESULT_VARIABLE rc OUTPUT_VARIABLE out)
  message(STATUS "consumer_viz printed: ${out}")
  if(rc OR NOT out MATCHES "consumer_viz ok")
    message(FATAL_ERROR "the consumer_viz program failed (${rc})")
  endif()
endif()
