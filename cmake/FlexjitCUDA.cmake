# The CUDA toolkit is needed only for cuda.h (the driver API's declarations;
# the driver itself is dlopen'ed at run time) and, in tests, ptxas.
find_path(FLEXJIT_CUDA_INCLUDE cuda.h
  HINTS /usr/local/cuda/include /usr/local/cuda-13.0/include /usr/include ENV CUDA_HOME PATH_SUFFIXES include)
find_program(FLEXJIT_PTXAS ptxas HINTS /usr/local/cuda/bin ENV CUDA_HOME PATH_SUFFIXES bin)
if(FLEXJIT_PTXAS)
  message(STATUS "ptxas: ${FLEXJIT_PTXAS}")
else()
  message(STATUS "ptxas not found: PTX assembly tests will skip")
endif()
