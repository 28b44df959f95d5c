# The predict smoke test: turn MNIST test image INDEX into a PNG drawn dark on light and
# three times larger (mnist_digit_png), classify it with predict and the checkpoint that
# the lenet_quick test trained, and require predict's answer to be the image's label.
#   cmake -DMAKE_PNG=... -DPREDICT=... -DDATA=... -DCHECKPOINT=... -DWORK_DIR=... -DINDEX=0 -P predict_smoke.cmake
file(MAKE_DIRECTORY ${WORK_DIR})
set(png ${WORK_DIR}/digit-${INDEX}.png)
execute_process(COMMAND ${MAKE_PNG} ${DATA} ${INDEX} ${png}
  OUTPUT_VARIABLE label OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "mnist_digit_png failed (${rc})")
endif()
execute_process(COMMAND ${PREDICT} ${png} --checkpoint ${CHECKPOINT}
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
message("${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "predict failed (${rc})")
endif()
if(NOT out MATCHES "light background \\(inverted\\)")
  message(FATAL_ERROR "predict did not invert the light background")
endif()
if(NOT out MATCHES "answer: ${label} ")
  message(FATAL_ERROR "predict's answer is not the label ${label}")
endif()
